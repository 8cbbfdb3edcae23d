package dev.diloco.worker;

import dev.diloco.core.layout.ParameterLayout;
import java.util.SplittableRandom;

/**
 * Text from a byte-transformer's weights, a byte at a time, with a cache of each layer's
 * past keys and values (as nanoGPT and Hugging Face generate): a new byte costs one position's
 * forward pass in plain Java, not a SameDiff pass over the whole window, so 300 bytes take
 * milliseconds instead of minutes. The same computation as the model's forward pass (a test
 * holds its logits to the SameDiff graph's): embeddings, pre-norm blocks of causal attention
 * and a GELU MLP, a final norm and the head. Positions are learned up to T: when the window
 * is full, the cache is rebuilt from its second half and sampling goes on. Not thread-safe.
 */
public final class ByteSampler implements Sampler {

  private final ModelConfig cfg;
  private final ParameterLayout layout;
  private final float[] w;
  private final float[][] keys; // per layer: [T, C]
  private final float[][] values; // per layer: [T, C]
  private int pos;

  /** A sampler of the model {@code config} with {@code weights} in {@code layout} order. */
  public ByteSampler(ModelConfig config, ParameterLayout layout, float[] weights) {
    if (weights.length != layout.totalElements()) {
      throw new IllegalArgumentException("weights of " + weights.length + " elements for a "
          + "layout of " + layout.totalElements());
    }
    this.cfg = config;
    this.layout = layout;
    this.w = weights;
    int tc = config.contextLength() * config.dModel();
    this.keys = new float[config.layers()][tc];
    this.values = new float[config.layers()][tc];
  }

  /**
   * {@code length} tokens sampled at {@code temperature} after the tokens of {@code prompt} (at
   * least one; of a longer prompt than the window, its last half window); the same tokens for
   * the same weights and {@code seed}.
   */
  @Override
  public int[] generate(int[] prompt, int length, double temperature, long seed) {
    Sampler.check(prompt, length, temperature, cfg.vocab());
    SplittableRandom random = new SplittableRandom(seed);
    int[] seen = java.util.Arrays.copyOf(prompt, prompt.length + length); // prompt, then sampled
    int n = prompt.length;
    pos = 0;
    float[] logits = null;
    for (int j = Math.max(0, n - cfg.contextLength() / 2); j < n; j++) {
      logits = next(seen[j]);
    }
    double[] p = new double[logits.length];
    for (int i = 0; i < length; i++) {
      int b = Sampler.draw(logits, 0, cfg.vocab(), temperature, random, p);
      if (pos == cfg.contextLength()) { // full: start again from the last half of the window
        pos = 0;
        for (int j = Math.max(0, n + i + 1 - cfg.contextLength() / 2); j < n + i; j++) {
          next(seen[j]);
        }
      }
      seen[n + i] = b;
      logits = next(b);
    }
    return java.util.Arrays.copyOfRange(seen, n, n + length);
  }

  /** Appends {@code token} at the next position; returns the logits of the byte after it. */
  float[] next(int token) {
    int c = cfg.dModel();
    int v = cfg.vocab();
    float[] x = new float[c]; // [C]
    int wte = off("wte");
    int wpe = off("wpe");
    for (int i = 0; i < c; i++) {
      x[i] = w[wte + token * c + i] + w[wpe + pos * c + i];
    }
    for (int l = 0; l < cfg.layers(); l++) {
      String p = "blocks." + l + ".";
      float[] a = layerNorm(x, off(p + "ln1.weight"), off(p + "ln1.bias"));
      float[] q = matVec(a, off(p + "attn.wq"), c, c);
      System.arraycopy(matVec(a, off(p + "attn.wk"), c, c), 0, keys[l], pos * c, c);
      System.arraycopy(matVec(a, off(p + "attn.wv"), c, c), 0, values[l], pos * c, c);
      add(x, matVec(attend(q, l), off(p + "attn.wo"), c, c));
      float[] m = matVec(layerNorm(x, off(p + "ln2.weight"), off(p + "ln2.bias")),
          off(p + "mlp.w1"), c, cfg.mlpHidden()); // [M]
      int b1 = off(p + "mlp.b1");
      for (int i = 0; i < m.length; i++) {
        m[i] = gelu(m[i] + w[b1 + i]);
      }
      float[] out = matVec(m, off(p + "mlp.w2"), cfg.mlpHidden(), c);
      int b2 = off(p + "mlp.b2");
      for (int i = 0; i < c; i++) {
        x[i] += out[i] + w[b2 + i];
      }
    }
    pos++;
    return matVec(layerNorm(x, off("ln_f.weight"), off("ln_f.bias")), off("lm_head"), c, v);
  }

  /** Causal attention of the newest position's query over the cached positions, per head. */
  private float[] attend(float[] q, int layer) {
    int c = cfg.dModel();
    int hd = c / cfg.heads();
    float[] y = new float[c]; // [C]: head h in columns [h·hd, (h + 1)·hd)
    float[] scores = new float[pos + 1];
    for (int h = 0; h < cfg.heads(); h++) {
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j <= pos; j++) {
        float s = 0;
        for (int d = h * hd; d < (h + 1) * hd; d++) {
          s += q[d] * keys[layer][j * c + d];
        }
        scores[j] = (float) (s / Math.sqrt(hd));
        max = Math.max(max, scores[j]);
      }
      float total = 0;
      for (int j = 0; j <= pos; j++) {
        scores[j] = (float) Math.exp(scores[j] - max);
        total += scores[j];
      }
      for (int j = 0; j <= pos; j++) {
        for (int d = h * hd; d < (h + 1) * hd; d++) {
          y[d] += scores[j] / total * values[layer][j * c + d];
        }
      }
    }
    return y;
  }

  private float[] layerNorm(float[] x, int gain, int bias) {
    double mean = 0;
    for (float f : x) {
      mean += f;
    }
    mean /= x.length;
    double var = 0;
    for (float f : x) {
      var += (f - mean) * (f - mean);
    }
    double std = Math.sqrt(var / x.length + cfg.normEps());
    float[] out = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = (float) ((x[i] - mean) / std) * w[gain + i] + w[bias + i];
    }
    return out;
  }

  /** {@code x · W} for W of [rows, cols] at {@code at} in the flat weights, row-major. */
  private float[] matVec(float[] x, int at, int rows, int cols) {
    float[] out = new float[cols];
    for (int r = 0; r < rows; r++) {
      float xr = x[r];
      int row = at + r * cols;
      for (int k = 0; k < cols; k++) {
        out[k] += xr * w[row + k];
      }
    }
    return out;
  }

  /** ND4J's GELU: x·σ(1.702·x). */
  private static float gelu(float x) {
    return (float) (x / (1 + Math.exp(-1.702 * x)));
  }

  private static void add(float[] x, float[] y) {
    for (int i = 0; i < x.length; i++) {
      x[i] += y[i];
    }
  }

  private int off(String tensor) {
    return Math.toIntExact(layout.tensor(tensor).offset());
  }
}
