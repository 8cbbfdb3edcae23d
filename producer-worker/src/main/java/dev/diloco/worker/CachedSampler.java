package dev.diloco.worker;

import dev.diloco.core.layout.ParameterLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Sampling with a cache of each layer's past keys and values (as nanoGPT and Hugging Face
 * generate): a new token costs one position's forward pass in plain Java, not a pass over the
 * whole window. A family gives its forward pass of one position ({@link #next}), from the
 * weights in layout order with the helpers here; a test holds its logits to the family's
 * SameDiff graph. Positions go up to T: when the window is full, the cache is rebuilt from its
 * second half and sampling goes on. Not thread-safe.
 */
abstract class CachedSampler implements Sampler {

  final ModelConfig cfg;
  private final ParameterLayout layout;
  final float[] w;
  private final float[][] keys; // per layer: [T, KV·hd]
  private final float[][] values; // per layer: [T, KV·hd]
  /** The position the next token goes to. */
  int pos;

  CachedSampler(ModelConfig config, ParameterLayout layout, float[] weights) {
    if (weights.length != layout.totalElements()) {
      throw new IllegalArgumentException("weights of " + weights.length + " elements for a "
          + "layout of " + layout.totalElements());
    }
    this.cfg = config;
    this.layout = layout;
    this.w = weights;
    int kv = config.contextLength() * config.kvHeads() * config.headDim();
    this.keys = new float[config.layers()][kv];
    this.values = new float[config.layers()][kv];
  }

  /** Appends {@code token} at position {@link #pos} (then one more); its next token's logits. */
  abstract float[] next(int token);

  @Override
  public int[] generate(int[] prompt, int length, double temperature, long seed) {
    Sampler.check(prompt, length, temperature, cfg.vocab());
    int t = cfg.contextLength();
    SplittableRandom random = new SplittableRandom(seed);
    int[] seen = Arrays.copyOf(prompt, prompt.length + length); // prompt, then sampled
    int n = prompt.length;
    pos = 0;
    float[] logits = null;
    for (int j = Math.max(0, n - t / 2); j < n; j++) {
      logits = next(seen[j]);
    }
    double[] p = new double[cfg.vocab()];
    for (int i = 0; i < length; i++) {
      int b = Sampler.draw(logits, 0, cfg.vocab(), temperature, random, p);
      if (pos == t) { // full: start again from the last half of the window
        pos = 0;
        for (int j = Math.max(0, n + i + 1 - t / 2); j < n + i; j++) {
          next(seen[j]);
        }
      }
      seen[n + i] = b;
      logits = next(b);
    }
    return Arrays.copyOfRange(seen, n, n + length);
  }

  int off(String tensor) {
    return Math.toIntExact(layout.tensor(tensor).offset());
  }

  /** Keeps layer {@code l}'s key and value of the current position. */
  void store(int l, float[] k, float[] v) {
    System.arraycopy(k, 0, keys[l], pos * k.length, k.length);
    System.arraycopy(v, 0, values[l], pos * v.length, v.length);
  }

  /**
   * Causal attention of the current position's query [H·hd] over the cached positions, query
   * head h reading key-value head h / (H / KV): softmax(q·kᵀ / √hd)·v, [H·hd].
   */
  float[] attend(float[] q, int layer) {
    int hd = cfg.headDim();
    int kvWidth = cfg.kvHeads() * hd;
    int group = cfg.heads() / cfg.kvHeads();
    float[] y = new float[q.length];
    float[] scores = new float[pos + 1];
    for (int h = 0; h < cfg.heads(); h++) {
      int kvAt = h / group * hd;
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j <= pos; j++) {
        float s = 0;
        for (int d = 0; d < hd; d++) {
          s += q[h * hd + d] * keys[layer][j * kvWidth + kvAt + d];
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
        for (int d = 0; d < hd; d++) {
          y[h * hd + d] += scores[j] / total * values[layer][j * kvWidth + kvAt + d];
        }
      }
    }
    return y;
  }

  /** x·W for W [in, out] at {@code at}, row-major (the byte model's and GPT-2's Conv1D). */
  float[] xW(float[] x, int at, int out) {
    float[] y = new float[out];
    for (int r = 0; r < x.length; r++) {
      float xr = x[r];
      int row = at + r * out;
      for (int k = 0; k < out; k++) {
        y[k] += xr * w[row + k];
      }
    }
    return y;
  }

  /** W·x for W [out, in] at {@code at}, row-major (PyTorch's Linear: y = x·Wᵀ). */
  float[] wx(float[] x, int at, int out) {
    float[] y = new float[out];
    for (int o = 0; o < out; o++) {
      float s = 0;
      int row = at + o * x.length;
      for (int i = 0; i < x.length; i++) {
        s += w[row + i] * x[i];
      }
      y[o] = s;
    }
    return y;
  }

  /** Adds the bias at {@code at} into {@code y}, and returns it. */
  float[] bias(float[] y, int at) {
    for (int i = 0; i < y.length; i++) {
      y[i] += w[at + i];
    }
    return y;
  }

  /** (x − mean) / sqrt(var + ε) · gain + bias. */
  float[] layerNorm(float[] x, int gain, int bias) {
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

  /** x / sqrt(mean(x²) + ε) · gain. */
  float[] rmsNorm(float[] x, int gain) {
    double square = 0;
    for (float f : x) {
      square += f * (double) f;
    }
    double scale = 1 / Math.sqrt(square / x.length + cfg.normEps());
    float[] out = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = (float) (x[i] * scale) * w[gain + i];
    }
    return out;
  }

  static void add(float[] x, float[] y) {
    for (int i = 0; i < x.length; i++) {
      x[i] += y[i];
    }
  }
}
