package dev.diloco.worker.model;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A {@link LanguageModel} computed by its own ops, each with its own backward pass, over one flat
 * array of parameters and one of gradients: the embedding's gather, a family's blocks and final
 * norm ({@link Architecture}: {@link Llama}, {@link Gpt2}, {@link ByteGpt}), the head ({@link
 * SoftmaxHead}).
 * Products are BLAS calls ({@link Blas}, batched for attention); the rest are loops over
 * rows or ND4J's element-wise ops, whichever measured faster. A SameDiff graph of the same model
 * ran about 300 ops a step, each with a fixed cost that exceeded its arithmetic at CPU sizes;
 * the graphs remain for other backends ({@link SameDiffModel}), whose arrays are not in this
 * process's memory.
 */
public final class Transformer implements LanguageModel {
  private final ModelConfig config;
  private final int batch;
  private final Architecture arch;
  private final ParameterLayout layout;
  private final INDArray weights; // [P], layout order
  private final INDArray gradients; // [P]: all but the table's and the head's, written each step
  private final INDArray[] stream; // [L + 1] of [N, C]: the residual stream between blocks
  private final Architecture.Block[] blocks;
  private final Norm norm;
  private final INDArray hidden; // [N, C]: the final norm's output
  private final INDArray dx; // [N, C]
  private final SoftmaxHead softmax;
  private final Ends ends;
  private long embeddingNanos;
  private long headNanos;
  private long blocksNanos;

  /** Whether ND4J's arrays are in this process's memory: the loops here read them directly. */
  public static boolean runsHere() {
    return Nd4j.getEnvironment().isCPU();
  }

  /** A model for batches of {@code batch} windows, initialised from {@code seed}. */
  public Transformer(ModelConfig config, int batch, long seed) {
    if (batch < 1) {
      throw new IllegalArgumentException("batch must be >= 1, got " + batch);
    }
    this.config = config;
    this.batch = batch;
    this.arch = Architecture.of(config);
    Parameters p = new Parameters(seed);
    arch.declare(p);
    layout = p.layout();
    weights = Nd4j.createFromArray(p.flat());
    gradients = Nd4j.create(DataType.FLOAT, layout.totalElements());
    int rows = batch * config.contextLength();
    stream = new INDArray[config.layers() + 1];
    for (int l = 0; l <= config.layers(); l++) {
      stream[l] = Nd4j.create(DataType.FLOAT, rows, config.dModel());
    }
    Architecture.Views w = (name, n) -> view(weights, name, n);
    Architecture.Views g = (name, n) -> view(gradients, name, n);
    blocks = arch.blocks(w, g, batch);
    norm = arch.finalNorm(w, g, rows);
    hidden = Nd4j.create(DataType.FLOAT, rows, config.dModel());
    dx = Nd4j.create(DataType.FLOAT, rows, config.dModel());
    softmax = new SoftmaxHead(rows, config.vocab(), arch.headIsVByC());
    ends = new Ends(config, batch, layout, arch.table(), arch.head());
  }

  /**
   * The {@code count} tensors from {@code name} on, adjacent in the layout, as one view of
   * {@code flat}: [Σ rows, columns] for matrices of equal columns, [n] for a vector.
   */
  private INDArray view(INDArray flat, String name, int count) {
    List<ParameterLayout.Tensor> all = layout.tensors();
    int first = all.indexOf(layout.tensor(name));
    List<ParameterLayout.Tensor> ts = all.subList(first, first + count);
    long from = ts.get(0).offset();
    long size = ts.stream().mapToLong(ParameterLayout.Tensor::elementCount).sum();
    INDArray v = flat.get(NDArrayIndex.interval(from, from + size));
    List<Integer> shape = ts.get(0).shape();
    return shape.size() == 1 ? v : v.reshape('c', size / shape.get(1), shape.get(1));
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
    weights.data().asNioFloat().get(0, checked(flat));
  }

  @Override
  public void setParameters(float[] flat) {
    weights.data().asNioFloat().put(0, checked(flat));
  }

  private float[] checked(float[] flat) {
    if (flat.length != layout.totalElements()) {
      throw new IllegalArgumentException("a vector of " + flat.length + " elements for a "
          + "layout of " + layout.totalElements());
    }
    return flat;
  }

  @Override
  public float lossAndGradient(int[][] windows, float[] gradient) {
    int[] inputs = ends.inputs(windows);
    long t0 = System.nanoTime();
    gather(inputs);
    long t1 = System.nanoTime();
    forward();
    long t2 = System.nanoTime();
    float loss = softmax.lossAndGradient(hidden, headArray(), ends.targets(windows));
    long t3 = System.nanoTime();
    dx.assign(0);
    norm.backward(softmax.hiddenGradient(), dx);
    for (int l = blocks.length - 1; l >= 0; l--) {
      blocks[l].backward(dx);
    }
    arch.positionsBackward(dx, (name, n) -> view(gradients, name, n));
    gradients.data().asNioFloat().get(0, gradient);
    long t4 = System.nanoTime();
    ends.tableAndHead(gradient, inputs, softmax.headGradient(), dx);
    embeddingNanos += t1 - t0 + System.nanoTime() - t4;
    blocksNanos += t2 - t1 + t4 - t3;
    headNanos += t3 - t2;
    return loss;
  }

  @Override
  public Parts parts() {
    return new Parts(embeddingNanos, headNanos, blocksNanos);
  }

  @Override
  public float loss(int[][] windows) {
    gather(ends.inputs(windows));
    forward();
    return softmax.loss(hidden, headArray(), ends.targets(windows));
  }

  @Override
  public float[] logits(int[][] windows) {
    gather(ends.inputs(windows));
    forward();
    return softmax.logits(hidden, headArray()).data().asFloat();
  }

  private INDArray headArray() {
    return view(weights, arch.head(), 1);
  }

  /** The input tokens' rows of the table (and positions), into the residual stream's start. */
  private void gather(int[] inputs) {
    int c = config.dModel();
    var table = weights.data().asNioFloat();
    var into = Rows.floats(stream[0]);
    int at = Math.toIntExact(layout.tensor(arch.table()).offset());
    float[] row = new float[c];
    for (int r = 0; r < inputs.length; r++) {
      table.get(at + inputs[r] * c, row);
      into.put(r * c, row);
    }
    arch.addPositions(stream[0], (name, n) -> view(weights, name, n));
  }

  /** The blocks and the final norm: {@link #hidden} [N, C] of the gathered tokens. */
  private void forward() {
    for (int l = 0; l < blocks.length; l++) {
      blocks[l].forward(stream[l], stream[l + 1]);
    }
    norm.forward(stream[blocks.length], hidden);
  }
}
