package dev.diloco.worker;

import dev.diloco.core.layout.ParameterLayout;

/**
 * The inner optimizer: AdamW with PyTorch's semantics (Loshchilov and Hutter, decoupled weight
 * decay), global-norm gradient clipping, and a linear warm-up then cosine decay of the learning
 * rate. Its state (moments and step count) stays with the worker across rounds, as in DiLoCo.
 * Weight decay applies to matrices, not to gains and biases, as in nanoGPT.
 */
public final class AdamW {

  /**
   * @param learningRate peak rate (OpenDiLoCo: 4e-4)
   * @param beta1 first-moment decay (0.9)
   * @param beta2 second-moment decay (0.95)
   * @param epsilon added to the root of the second moment
   * @param weightDecay decoupled decay (0.1)
   * @param clip global gradient-norm bound; 0 for none (1.0)
   * @param warmupSteps linear warm-up
   * @param totalSteps steps by which the cosine reaches {@code minFactor} of the peak; 0: constant
   * @param minFactor floor of the cosine, as a factor of the peak
   */
  public record Config(double learningRate, double beta1, double beta2, double epsilon,
      double weightDecay, double clip, int warmupSteps, int totalSteps, double minFactor) {

    public static final Config OPENDILOCO = new Config(4e-4, 0.9, 0.95, 1e-8, 0.1, 1.0, 0, 0, 1.0);

    public Config {
      if (!(learningRate > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)
          || !(epsilon > 0) || !(weightDecay >= 0) || !(clip >= 0) || warmupSteps < 0
          || totalSteps < 0 || !(minFactor >= 0 && minFactor <= 1)) {
        throw new IllegalArgumentException("AdamW settings out of range: " + this);
      }
    }
  }

  private final Config config;
  private final float[] m;
  private final float[] v;
  private final boolean[] decays;
  private int step;

  public AdamW(Config config, ParameterLayout layout) {
    this.config = config;
    int n = Math.toIntExact(layout.totalElements());
    this.m = new float[n];
    this.v = new float[n];
    this.decays = new boolean[n];
    for (ParameterLayout.Tensor t : layout.tensors()) {
      if (t.shape().size() >= 2) {
        java.util.Arrays.fill(decays, (int) t.offset(), (int) (t.offset() + t.elementCount()), true);
      }
    }
  }

  /** Steps taken so far. */
  public int steps() {
    return step;
  }

  /** The learning rate of step {@code s} (1-based). */
  public double learningRate(int s) {
    if (s <= config.warmupSteps()) {
      return config.learningRate() * s / Math.max(1, config.warmupSteps());
    }
    if (config.totalSteps() == 0) {
      return config.learningRate();
    }
    double progress = Math.min(1.0, (double) (s - config.warmupSteps())
        / Math.max(1, config.totalSteps() - config.warmupSteps()));
    double cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
    return config.learningRate() * (config.minFactor() + (1 - config.minFactor()) * cosine);
  }

  /** One step on {@code params} from {@code grad} (which it may scale); returns the grad norm. */
  public double step(float[] params, float[] grad) {
    double norm = 0;
    for (float g : grad) {
      norm += (double) g * g;
    }
    norm = Math.sqrt(norm);
    float scale = config.clip() > 0 && norm > config.clip() ? (float) (config.clip() / norm) : 1f;
    step++;
    double lr = learningRate(step);
    float b1 = (float) config.beta1();
    float b2 = (float) config.beta2();
    double c1 = 1 - Math.pow(config.beta1(), step);
    double c2 = 1 - Math.pow(config.beta2(), step);
    float stepSize = (float) (lr / c1);
    float rootC2 = (float) Math.sqrt(c2);
    float eps = (float) config.epsilon();
    float decay = (float) (1 - lr * config.weightDecay());
    for (int i = 0; i < params.length; i++) {
      float g = grad[i] * scale;
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      float p = decays[i] ? params[i] * decay : params[i];
      params[i] = p - stepSize * m[i] / ((float) Math.sqrt(v[i]) / rootC2 + eps);
    }
    return norm;
  }
}
