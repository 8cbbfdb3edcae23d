package dev.diloco.worker;

import dev.diloco.core.layout.ParameterLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A decoder-only transformer over bytes, in ND4J SameDiff, after nanoGPT: token and position
 * embeddings, pre-norm blocks of causal multi-head self-attention and a GELU MLP, a final norm
 * and an output projection. The parameters are one flat vector in a fixed {@link #layout()}
 * order, so that the same bytes move between the model, the inner optimizer and Kafka.
 *
 * <p>Four ND4J pitfalls shape it. The embedding is gathered outside the graph, and its
 * gradient scattered back into the table's rows by hand ({@link #lossAndGradient}): SameDiff's
 * gather fails in backprop, and a one-hot product costs B·T·V floats a step (205 MB at GPT-2's
 * vocabulary). The loss is the sum of a sparse cross-entropy, whose backprop ignores the
 * gradient flowing into it (measured: 0.1 · sum got the gradient of the sum), so the graph's
 * loss is the sum, and the mean's gradient is the sum's times 1 / (B·T). The causal mask is added
 * by hand (the built-in attention has none), and so is the layer norm (the built-in one has no
 * epsilon: see {@link #layerNorm}).
 */
public final class ByteTransformer {

  /** The layer norms' epsilon, inside the square root, as PyTorch's and GPT-2's. */
  static final float LN_EPS = 1e-5f;

  private final ModelConfig config;
  private final int batch;
  private final SameDiff sd = SameDiff.create();
  private final ParameterLayout layout;
  private final SDVariable logits;
  /** The embedded tokens [B*T, C], gathered from {@code wte} before each pass. */
  private final SDVariable embedded;
  /** What the backward pass is asked for: the parameters in the graph, and the embedded. */
  private final List<String> gradientsOf = new ArrayList<>();

  /** A model for batches of {@code batch} sequences, initialised from {@code seed}. */
  public ByteTransformer(ModelConfig config, int batch, long seed) {
    this.config = config;
    this.batch = batch;
    int t = config.contextLength();
    int c = config.dModel();
    int h = config.heads();
    int hd = c / h;
    int v = config.vocab();
    SplittableRandom random = new SplittableRandom(seed);
    ParameterLayout.Builder shapes = ParameterLayout.builder();

    SDVariable targets = sd.placeHolder("targets", DataType.INT32, batch * t); // [B*T] ids

    param(shapes, random, "wte", 0.02, v, c); // read by the gather, outside the graph
    gradientsOf.remove("wte");
    SDVariable wpe = param(shapes, random, "wpe", 0.02, t, c);
    embedded = sd.var("embedded", Nd4j.zeros(DataType.FLOAT, (long) batch * t, c)); // [B*T, C]
    SDVariable x = embedded.reshape(batch, t, c).add(wpe); // [B, T, C]
    x = x.reshape(batch * t, c); // [B*T, C]

    // Upper triangle (future positions) is -1e9: added to the scores before the softmax.
    float[] mask = new float[t * t];
    for (int i = 0; i < t; i++) {
      for (int j = i + 1; j < t; j++) {
        mask[i * t + j] = -1e9f;
      }
    }
    SDVariable causal = sd.constant("causal_mask", Nd4j.create(mask, new long[] {t, t}, 'c'));
    double residualStd = 0.02 / Math.sqrt(2.0 * config.layers());

    for (int l = 0; l < config.layers(); l++) {
      String p = "blocks." + l + ".";
      SDVariable ln1g = ones(shapes, p + "ln1.weight", c);
      SDVariable ln1b = zeros(shapes, p + "ln1.bias", c);
      SDVariable wq = param(shapes, random, p + "attn.wq", 0.02, c, c);
      SDVariable wk = param(shapes, random, p + "attn.wk", 0.02, c, c);
      SDVariable wv = param(shapes, random, p + "attn.wv", 0.02, c, c);
      SDVariable wo = param(shapes, random, p + "attn.wo", residualStd, c, c);
      SDVariable ln2g = ones(shapes, p + "ln2.weight", c);
      SDVariable ln2b = zeros(shapes, p + "ln2.bias", c);
      SDVariable w1 = param(shapes, random, p + "mlp.w1", 0.02, c, config.mlpHidden());
      SDVariable b1 = zeros(shapes, p + "mlp.b1", config.mlpHidden());
      SDVariable w2 = param(shapes, random, p + "mlp.w2", residualStd, config.mlpHidden(), c);
      SDVariable b2 = zeros(shapes, p + "mlp.b2", c);

      SDVariable a = layerNorm(x, ln1g, ln1b); // [B*T, C]
      SDVariable q = heads(sd.mmul(a, wq), t, h, hd); // [B*H, T, hd]
      SDVariable k = heads(sd.mmul(a, wk), t, h, hd); // [B*H, T, hd]
      SDVariable vv = heads(sd.mmul(a, wv), t, h, hd); // [B*H, T, hd]
      SDVariable scores = sd.mmul(q, k, false, true, false).mul(1.0 / Math.sqrt(hd)); // [B*H, T, T]
      SDVariable att = sd.nn.softmax(scores.add(causal), 2); // [B*H, T, T]
      SDVariable y = sd.mmul(att, vv); // [B*H, T, hd]
      y = y.reshape(batch, h, t, hd).permute(0, 2, 1, 3).reshape(batch * t, c); // [B*T, C]
      x = x.add(sd.mmul(y, wo)); // [B*T, C]

      SDVariable m = layerNorm(x, ln2g, ln2b); // [B*T, C]
      m = sd.nn.gelu(sd.mmul(m, w1).add(b1)); // [B*T, M]
      x = x.add(sd.mmul(m, w2).add(b2)); // [B*T, C]
    }
    SDVariable lnfg = ones(shapes, "ln_f.weight", c);
    SDVariable lnfb = zeros(shapes, "ln_f.bias", c);
    SDVariable head = param(shapes, random, "lm_head", 0.02, c, v);
    x = layerNorm(x, lnfg, lnfb); // [B*T, C]
    this.logits = sd.mmul(x, head).rename("logits"); // [B*T, V]
    sd.sum("loss_sum", sd.loss.sparseSoftmaxCrossEntropy("ce", logits, targets)); // []
    sd.setLossVariables("loss_sum");
    this.layout = shapes.build();
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

  public ModelConfig config() {
    return config;
  }

  public int batch() {
    return batch;
  }

  /** The parameters' names, shapes and offsets in the flat vector. */
  public ParameterLayout layout() {
    return layout;
  }

  /** Copies the parameters into {@code flat}, in layout order. */
  public void parameters(float[] flat) {
    for (ParameterLayout.Tensor t : layout.tensors()) {
      float[] values = sd.getVariable(t.name()).getArr().data().asFloat();
      System.arraycopy(values, 0, flat, (int) t.offset(), values.length);
    }
  }

  /** Sets the parameters from {@code flat}, in layout order. */
  public void setParameters(float[] flat) {
    for (ParameterLayout.Tensor t : layout.tensors()) {
      INDArray arr = sd.getVariable(t.name()).getArr();
      float[] values = new float[(int) t.elementCount()];
      System.arraycopy(flat, (int) t.offset(), values, 0, values.length);
      arr.data().setData(values);
    }
  }

  /**
   * The mean cross-entropy of predicting each next token of {@code batch} windows, and its
   * gradient in layout order into {@code gradient}. {@code windows}: [B, T + 1] token ids.
   */
  public float lossAndGradient(int[][] windows, float[] gradient) {
    int[] inputs = inputs(windows);
    Map<String, INDArray> feed = feed(windows, inputs);
    var result = sd.calculateGradientsAndOutputs(feed, List.of("loss_sum"), gradientsOf);
    float scale = 1f / inputs.length; // the mean's gradient is the sum's over B*T
    for (ParameterLayout.Tensor t : layout.tensors()) {
      if (!t.name().equals("wte")) {
        float[] g = result.getGradients().get(t.name()).data().asFloat();
        int at = (int) t.offset();
        for (int i = 0; i < g.length; i++) {
          gradient[at + i] = g[i] * scale;
        }
      }
    }
    // The gather's backward: each row of the table gets the gradients of its embedded tokens.
    int table = (int) layout.tensor("wte").offset();
    int c = config.dModel();
    java.util.Arrays.fill(gradient, table, table + config.vocab() * c, 0f);
    float[] dx = result.getGradients().get("embedded").data().asFloat(); // [B*T, C]
    for (int r = 0; r < inputs.length; r++) {
      int row = table + inputs[r] * c;
      for (int j = 0; j < c; j++) {
        gradient[row + j] += dx[r * c + j] * scale;
      }
    }
    return result.getOutputs().get("loss_sum").getFloat(0) * scale;
  }

  /** The mean cross-entropy of predicting each next token, without gradients. */
  public float loss(int[][] windows) {
    int[] inputs = inputs(windows);
    return sd.output(feed(windows, inputs), "loss_sum").get("loss_sum").getFloat(0)
        / inputs.length;
  }

  /** Logits [B*T, V] for {@code windows} ([B, T + 1]; the last token of each is not input). */
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

  /** Gathers the input tokens' rows of {@code wte} into the graph; the next tokens are labels. */
  private Map<String, INDArray> feed(int[][] windows, int[] inputs) {
    int t = config.contextLength();
    Nd4j.pullRows(sd.getVariable("wte").getArr(), embedded.getArr(), 1, inputs); // in place
    int[] next = new int[inputs.length];
    for (int b = 0; b < batch; b++) {
      System.arraycopy(windows[b], 1, next, b * t, t);
    }
    return new HashMap<>(Map.of("targets", Nd4j.createFromArray(next)));
  }

  /** [B*T, C] to [B*H, T, hd]: one sequence per (batch, head). */
  private SDVariable heads(SDVariable x, int t, int h, int hd) {
    return x.reshape(batch, t, h, hd).permute(0, 2, 1, 3).reshape(batch * h, t, hd);
  }

  private SDVariable param(ParameterLayout.Builder shapes, SplittableRandom random, String name,
      double std, int... shape) {
    long n = 1;
    for (int d : shape) {
      n *= d;
    }
    float[] values = new float[(int) n];
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) (gaussian(random) * std);
    }
    return register(shapes, name, values, shape);
  }

  private SDVariable ones(ParameterLayout.Builder shapes, String name, int size) {
    float[] values = new float[size];
    java.util.Arrays.fill(values, 1f);
    return register(shapes, name, values, size);
  }

  private SDVariable zeros(ParameterLayout.Builder shapes, String name, int size) {
    return register(shapes, name, new float[size], size);
  }

  private SDVariable register(ParameterLayout.Builder shapes, String name, float[] values,
      int... shape) {
    long[] dims = java.util.Arrays.stream(shape).asLongStream().toArray();
    SDVariable var = sd.var(name, Nd4j.create(values, dims, 'c'));
    shapes.add(name, shape);
    gradientsOf.add(name);
    return var;
  }

  /**
   * Layer norm over the last axis of {@code x} [N, C]: (x − mean) / sqrt(var + ε) · gain + bias.
   * SameDiff's own {@code nn.layerNorm} divides by the bare standard deviation: on a row of
   * nearly equal values its gradient grows as 1/stdev (1.3e7 at a spread of 2.4e-7 about 3), and
   * a row of equal values is 0/0, which long INT4 runs reached as NaN. With ε the gradient is
   * bounded by 1/sqrt(ε) ≈ 316 times the incoming one.
   */
  private SDVariable layerNorm(SDVariable x, SDVariable gain, SDVariable bias) {
    SDVariable centred = x.sub(x.mean(true, 1)); // [N, C]
    SDVariable variance = centred.mul(centred).mean(true, 1); // [N, 1]
    return centred.mul(sd.math.rsqrt(variance.add(LN_EPS))).mul(gain).add(bias); // [N, C]
  }

  /** Box-Muller from a SplittableRandom: the same bits on every machine and JVM. */
  private static double gaussian(SplittableRandom random) {
    double u1 = random.nextDouble();
    double u2 = random.nextDouble();
    return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  }
}
