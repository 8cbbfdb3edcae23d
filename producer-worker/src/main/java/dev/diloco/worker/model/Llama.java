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
 * Hugging Face's {@code LlamaForCausalLM} (transformers' {@code modeling_llama.py}), with its
 * tensor names and shapes: token embedding, blocks of RMSNorm, causal attention with rotary
 * positions and grouped-query key-value heads, RMSNorm and a SwiGLU MLP, each around a
 * residual ({@link LlamaBlock}); a final RMSNorm and the head ({@code lm_head}, or the
 * embedding's transpose when tied). No biases. Linear weights are [out, in]: y = x·Wᵀ.
 *
 * <p>Written as a few ops with their own backward passes, over one flat array of parameters
 * and one of gradients: products by BLAS ({@code Nd4j.gemm}, batched for attention), the rest
 * in loops over rows ({@link Rows}). The SameDiff graph of the same model ran about 300 ops a
 * step, each with a fixed cost that exceeded its arithmetic at CPU sizes; it remains for other
 * backends ({@link LlamaGraph}).
 */
public final class Llama implements LanguageModel {
  static final String TABLE = "model.embed_tokens.weight";
  static final String HEAD = "lm_head.weight";

  private final ModelConfig config;
  private final int batch;
  private final ParameterLayout layout;
  private final INDArray weights; // [P], layout order
  private final INDArray gradients; // [P]: the blocks' and the final norm's parts
  private final INDArray[] stream; // [L + 1] of [N, C]: the residual stream between blocks
  private final LlamaBlock[] blocks;
  private final LlamaBlock.Scratch scratch;
  private final INDArray hidden; // [N, C]: the final RMSNorm's output
  private final float[] inv; // [N]
  private final INDArray dx; // [N, C]
  private final SoftmaxHead softmax;
  private final Ends ends;
  private final String head;
  private long embeddingNanos;
  private long headNanos;
  private long blocksNanos;

  /** Whether ND4J's arrays are in this process's memory: the loops here read them directly. */
  public static boolean runsHere() {
    return Nd4j.getEnvironment().isCPU();
  }

  /** Declares the parameters in layout order, initialised as transformers does (std 0.02). */
  static void declare(Parameters p, ModelConfig cfg) {
    double std = 0.02; // initializer_range
    int c = cfg.dModel();
    int hd = cfg.headDim();
    int m = cfg.mlpHidden();
    p.normal(TABLE, std, cfg.vocab(), c);
    for (int l = 0; l < cfg.layers(); l++) {
      String at = "model.layers." + l + ".";
      p.normal(at + "self_attn.q_proj.weight", std, cfg.heads() * hd, c);
      p.normal(at + "self_attn.k_proj.weight", std, cfg.kvHeads() * hd, c);
      p.normal(at + "self_attn.v_proj.weight", std, cfg.kvHeads() * hd, c);
      p.normal(at + "self_attn.o_proj.weight", std, c, cfg.heads() * hd);
      p.normal(at + "mlp.gate_proj.weight", std, m, c);
      p.normal(at + "mlp.up_proj.weight", std, m, c);
      p.normal(at + "mlp.down_proj.weight", std, c, m);
      p.ones(at + "input_layernorm.weight", c);
      p.ones(at + "post_attention_layernorm.weight", c);
    }
    p.ones("model.norm.weight", c);
    if (!cfg.tiedHead()) {
      p.normal(HEAD, std, cfg.vocab(), c);
    }
  }

  /** A model for batches of {@code batch} windows, initialised from {@code seed}. */
  public Llama(ModelConfig config, int batch, long seed) {
    if (config.family() != ModelConfig.Family.LLAMA || batch < 1) {
      throw new IllegalArgumentException("a llama config and batch >= 1, got " + config.family()
          + " and " + batch);
    }
    this.config = config;
    this.batch = batch;
    Parameters p = new Parameters(seed);
    declare(p, config);
    layout = p.layout();
    weights = Nd4j.createFromArray(p.flat());
    gradients = Nd4j.create(DataType.FLOAT, layout.totalElements());
    int rows = batch * config.contextLength();
    stream = new INDArray[config.layers() + 1];
    for (int l = 0; l <= config.layers(); l++) {
      stream[l] = Nd4j.create(DataType.FLOAT, rows, config.dModel());
    }
    float[][] rope = Rope.table(config.contextLength(), config.headDim(), config.ropeTheta());
    blocks = new LlamaBlock[config.layers()];
    for (int l = 0; l < blocks.length; l++) {
      blocks[l] = new LlamaBlock(config, batch, l, (name, n) -> view(weights, name, n),
          (name, n) -> view(gradients, name, n), rope);
    }
    scratch = LlamaBlock.Scratch.of(config, batch);
    hidden = Nd4j.create(DataType.FLOAT, rows, config.dModel());
    inv = new float[rows];
    dx = Nd4j.create(DataType.FLOAT, rows, config.dModel());
    softmax = new SoftmaxHead(rows, config.vocab(), true);
    head = config.tiedHead() ? TABLE : HEAD;
    ends = new Ends(config, batch, layout, TABLE, head);
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
    weights.data().asNioFloat().get(0, flat);
  }

  @Override
  public void setParameters(float[] flat) {
    weights.data().asNioFloat().put(0, flat);
  }

  @Override
  public float lossAndGradient(int[][] windows, float[] gradient) {
    int[] inputs = ends.inputs(windows);
    long t0 = System.nanoTime();
    gather(inputs);
    long t1 = System.nanoTime();
    forward();
    long t2 = System.nanoTime();
    float loss = softmax.lossAndGradient(hidden, view(weights, head, 1), ends.targets(windows));
    long t3 = System.nanoTime();
    dx.assign(0);
    float[] gain = view(weights, "model.norm.weight", 1).toFloatVector();
    view(gradients, "model.norm.weight", 1).assign(Nd4j.createFromArray(Rows.rmsNormBackward(
        softmax.hiddenGradient(), stream[blocks.length], inv, gain, dx)));
    for (int l = blocks.length - 1; l >= 0; l--) {
      blocks[l].backward(dx, scratch);
    }
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
    return softmax.loss(hidden, view(weights, head, 1), ends.targets(windows));
  }

  @Override
  public float[] logits(int[][] windows) {
    gather(ends.inputs(windows));
    forward();
    return softmax.logits(hidden, view(weights, head, 1)).data().asFloat();
  }

  /** The input tokens' rows of the table, into the residual stream's start. */
  private void gather(int[] inputs) {
    int c = config.dModel();
    var table = weights.data().asNioFloat();
    var into = Rows.floats(stream[0]);
    int at = Math.toIntExact(layout.tensor(TABLE).offset());
    float[] row = new float[c];
    for (int r = 0; r < inputs.length; r++) {
      table.get(at + inputs[r] * c, row);
      into.put(r * c, row);
    }
  }

  /** The blocks and the final RMSNorm: {@link #hidden} [N, C] of the gathered tokens. */
  private void forward() {
    for (int l = 0; l < blocks.length; l++) {
      blocks[l].forward(stream[l], stream[l + 1]);
    }
    Rows.rmsNorm(stream[blocks.length], view(weights, "model.norm.weight", 1).toFloatVector(),
        config.normEps(), hidden, inv);
  }
}
