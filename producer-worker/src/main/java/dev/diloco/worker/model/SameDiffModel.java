package dev.diloco.worker.model;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A {@link LanguageModel} whose family builds a SameDiff graph ({@link ByteGptGraph}, {@link
 * LlamaGraph}, {@link Gpt2Graph}: for backends other than the CPU's) from the embedded tokens to the final hidden states; what
 * is the same for all of them is here: the embedding, the head and its loss, the gradient in
 * layout order.
 *
 * <p>Both ends are outside the graph, for ND4J's sake. The embedding's rows are gathered by
 * hand and its gradient scattered back into the table's rows: SameDiff's gather fails in
 * backprop, and a one-hot product costs B·T·V floats a step (205 MB at GPT-2's vocabulary).
 * The head and its cross-entropy are {@link SoftmaxHead}'s. The graph's backward pass starts
 * from the head's gradient in the hidden states, g: its loss is sum(hidden ⊙ g), whose
 * gradient in every parameter is the chain rule's.
 */
public final class SameDiffModel implements LanguageModel {

  private final ModelConfig config;
  private final int batch;
  private final SameDiff sd;
  private final ParameterLayout layout;
  private final String table;
  private final String head;
  private final SoftmaxHead softmax;
  private final Ends ends;
  /** The embedded tokens [B*T, C], gathered from the table before each pass. */
  private final SDVariable embedded;
  /** What the backward pass is asked for: the parameters in the graph, and the embedded. */
  private final List<String> gradientsOf;
  /** Nanoseconds spent in each part of {@link #lossAndGradient}, since the model was made. */
  private long embeddingNanos;
  private long headNanos;
  private long graphNanos;

  /** A model for batches of {@code batch} windows, initialised from {@code seed}. */
  public SameDiffModel(ModelConfig config, int batch, long seed) {
    if (batch < 1) {
      throw new IllegalArgumentException("batch must be >= 1, got " + batch);
    }
    this.config = config;
    this.batch = batch;
    Architecture arch = Architecture.of(config);
    Graph g = new Graph(config, batch, seed, arch);
    this.sd = g.sd;
    int bt = batch * config.contextLength();
    embedded = sd.var("embedded", Nd4j.zeros(DataType.FLOAT, bt, config.dModel())); // [B*T, C]
    SDVariable hidden = switch (config.family()) {
      case BYTE_TRANSFORMER -> ByteGptGraph.build(g, embedded);
      case LLAMA -> LlamaGraph.build(g, embedded);
      case GPT2 -> Gpt2Graph.build(g, embedded);
    };
    hidden.rename("hidden"); // [B*T, C]
    SDVariable upstream = sd.placeHolder("upstream", DataType.FLOAT, bt, config.dModel());
    sd.sum("surrogate", hidden.mul(upstream)); // [], its gradient in hidden: upstream
    sd.setLossVariables("surrogate");
    this.layout = g.layout;
    this.table = arch.table();
    this.head = arch.head();
    this.softmax = new SoftmaxHead(bt, config.vocab(), arch.headIsVByC());
    this.ends = new Ends(config, batch, layout, table, head);
    this.gradientsOf = g.gradientsOf;
    gradientsOf.add("embedded");
    buildGradients();
  }

  /**
   * Builds the backward graph now rather than at the first step. SameDiff prints a line to
   * standard output for every op it differentiates; that is noise in a worker's output, so the
   * stream is silenced while it does.
   */
  private void buildGradients() {
    java.io.PrintStream out = System.out;
    synchronized (System.class) {
      System.setOut(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
      try {
        sd.createGradFunction("surrogate");
      } finally {
        System.setOut(out);
      }
    }
  }

  @Override
  public ModelConfig config() {
    return config;
  }

  @Override
  public int batch() {
    return batch;
  }

  @Override
  public ParameterLayout layout() {
    return layout;
  }

  @Override
  public void parameters(float[] flat) {
    for (ParameterLayout.Tensor t : layout.tensors()) {
      float[] values = sd.getVariable(t.name()).getArr().data().asFloat();
      System.arraycopy(values, 0, flat, (int) t.offset(), values.length);
    }
  }

  @Override
  public void setParameters(float[] flat) {
    for (ParameterLayout.Tensor t : layout.tensors()) {
      INDArray arr = sd.getVariable(t.name()).getArr();
      float[] values = new float[(int) t.elementCount()];
      System.arraycopy(flat, (int) t.offset(), values, 0, values.length);
      arr.data().setData(values);
    }
  }

  @Override
  public float lossAndGradient(int[][] windows, float[] gradient) {
    int[] inputs = ends.inputs(windows);
    long t0 = System.nanoTime();
    gather(inputs);
    long t1 = System.nanoTime();
    INDArray hidden = hidden(); // [B*T, C]
    long t2 = System.nanoTime();
    float loss = softmax.lossAndGradient(hidden, array(head), ends.targets(windows));
    long t3 = System.nanoTime();
    Map<String, INDArray> feed = new HashMap<>(Map.of("upstream", softmax.hiddenGradient()));
    Map<String, INDArray> grads = sd.calculateGradients(feed, gradientsOf);
    long t4 = System.nanoTime();
    for (String name : gradientsOf) {
      if (!name.equals("embedded")) {
        copy(grads.get(name), gradient, (int) layout.tensor(name).offset());
      }
    }
    ends.tableAndHead(gradient, inputs, softmax.headGradient(), grads.get("embedded"));
    embeddingNanos += t1 - t0 + System.nanoTime() - t4;
    graphNanos += t2 - t1 + t4 - t3;
    headNanos += t3 - t2;
    return loss;
  }

  @Override
  public Parts parts() {
    return new Parts(embeddingNanos, headNanos, graphNanos);
  }

  @Override
  public float loss(int[][] windows) {
    gather(ends.inputs(windows));
    return softmax.loss(hidden(), array(head), ends.targets(windows));
  }

  @Override
  public float[] logits(int[][] windows) {
    gather(ends.inputs(windows));
    return softmax.logits(hidden(), array(head)).data().asFloat();
  }

  /** The input tokens' rows of the table, into the graph's embedded array in place. */
  private void gather(int[] inputs) {
    Nd4j.pullRows(array(table), embedded.getArr(), 1, inputs);
  }

  /** The final hidden states [B*T, C] of the gathered tokens. */
  private INDArray hidden() {
    Map<String, INDArray> feed = new HashMap<>(Map.of("upstream",
        Nd4j.zeros(DataType.FLOAT, 1, 1))); // unread by the forward pass, but a placeholder
    return sd.output(feed, "hidden").get("hidden");
  }

  private INDArray array(String name) {
    return sd.getVariable(name).getArr();
  }

  private static void copy(INDArray from, float[] into, int offset) {
    float[] g = from.data().asFloat();
    System.arraycopy(g, 0, into, offset, g.length);
  }
}
