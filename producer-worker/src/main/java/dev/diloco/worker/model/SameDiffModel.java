package dev.diloco.worker.model;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A {@link LanguageModel} whose family builds a SameDiff graph ({@link ByteGpt}, {@link Llama},
 * {@link Gpt2}); what is the same for all of them is here: the embedding, the loss and the
 * gradient in layout order.
 *
 * <p>Two ND4J pitfalls shape it. The embedding is gathered outside the graph, and its gradient
 * scattered back into the table's rows by hand ({@link #lossAndGradient}): SameDiff's gather
 * fails in backprop, and a one-hot product costs B·T·V floats a step (205 MB at GPT-2's
 * vocabulary). The loss is the sum of a sparse cross-entropy, whose backprop ignores the
 * gradient flowing into it (measured: 0.1 · sum got the gradient of the sum), so the graph's
 * loss is the sum, and the mean's gradient is the sum's times 1 / (B·T).
 */
public final class SameDiffModel implements LanguageModel {

  private final ModelConfig config;
  private final int batch;
  private final SameDiff sd;
  private final ParameterLayout layout;
  private final String table;
  /** The embedded tokens [B*T, C], gathered from the table before each pass. */
  private final SDVariable embedded;
  /** What the backward pass is asked for: the parameters in the graph, and the embedded. */
  private final List<String> gradientsOf;

  /** A model for batches of {@code batch} windows, initialised from {@code seed}. */
  public SameDiffModel(ModelConfig config, int batch, long seed) {
    if (batch < 1) {
      throw new IllegalArgumentException("batch must be >= 1, got " + batch);
    }
    this.config = config;
    this.batch = batch;
    Graph g = new Graph(config, batch, seed);
    this.sd = g.sd;
    int bt = batch * config.contextLength();
    SDVariable targets = sd.placeHolder("targets", DataType.INT32, bt); // [B*T] ids
    embedded = sd.var("embedded", Nd4j.zeros(DataType.FLOAT, bt, config.dModel())); // [B*T, C]
    SDVariable logits = switch (config.family()) {
      case BYTE_TRANSFORMER -> ByteGpt.logits(g, embedded);
      case LLAMA -> Llama.logits(g, embedded);
      case GPT2 -> Gpt2.logits(g, embedded);
    };
    logits.rename("logits"); // [B*T, V]
    sd.sum("loss_sum", sd.loss.sparseSoftmaxCrossEntropy("ce", logits, targets)); // []
    sd.setLossVariables("loss_sum");
    this.layout = g.layout();
    this.table = g.tableName();
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
        sd.createGradFunction("loss_sum");
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
    int[] inputs = inputs(windows);
    Map<String, INDArray> feed = feed(windows, inputs);
    var result = sd.calculateGradientsAndOutputs(feed, List.of("loss_sum"), gradientsOf);
    float scale = 1f / inputs.length; // the mean's gradient is the sum's over B*T
    int at = (int) layout.tensor(table).offset();
    int c = config.dModel();
    Arrays.fill(gradient, at, at + config.vocab() * c, 0f); // a tied head's part is added below
    for (String name : gradientsOf) {
      if (!name.equals("embedded")) {
        float[] g = result.getGradients().get(name).data().asFloat();
        int offset = (int) layout.tensor(name).offset();
        for (int i = 0; i < g.length; i++) {
          gradient[offset + i] = g[i] * scale;
        }
      }
    }
    // The gather's backward: each row of the table gets the gradients of its embedded tokens.
    float[] dx = result.getGradients().get("embedded").data().asFloat(); // [B*T, C]
    for (int r = 0; r < inputs.length; r++) {
      int row = at + inputs[r] * c;
      for (int j = 0; j < c; j++) {
        gradient[row + j] += dx[r * c + j] * scale;
      }
    }
    return result.getOutputs().get("loss_sum").getFloat(0) * scale;
  }

  @Override
  public float loss(int[][] windows) {
    int[] inputs = inputs(windows);
    return sd.output(feed(windows, inputs), "loss_sum").get("loss_sum").getFloat(0)
        / inputs.length;
  }

  @Override
  public float[] logits(int[][] windows) {
    return sd.output(feed(windows, inputs(windows)), "logits").get("logits").data().asFloat();
  }

  /** The input tokens of {@code windows}, [B*T], each checked against the vocabulary. */
  private int[] inputs(int[][] windows) {
    int t = config.contextLength();
    if (windows.length != batch) {
      throw new IllegalArgumentException("the model takes batches of " + batch + " windows, got "
          + windows.length);
    }
    int[] in = new int[batch * t];
    for (int b = 0; b < batch; b++) {
      if (windows[b].length != t + 1) {
        throw new IllegalArgumentException("a window must hold " + (t + 1) + " tokens, got "
            + windows[b].length);
      }
      for (int token : windows[b]) {
        if (token < 0 || token >= config.vocab()) {
          throw new IllegalArgumentException("token " + token + " is not in the model's "
              + "vocabulary of " + config.vocab());
        }
      }
      System.arraycopy(windows[b], 0, in, b * t, t);
    }
    return in;
  }

  /** Gathers the input tokens' rows of the table into the graph; the next tokens are labels. */
  private Map<String, INDArray> feed(int[][] windows, int[] inputs) {
    int t = config.contextLength();
    Nd4j.pullRows(sd.getVariable(table).getArr(), embedded.getArr(), 1, inputs); // in place
    int[] next = new int[inputs.length];
    for (int b = 0; b < batch; b++) {
      System.arraycopy(windows[b], 1, next, b * t, t);
    }
    return new HashMap<>(Map.of("targets", Nd4j.createFromArray(next)));
  }
}
