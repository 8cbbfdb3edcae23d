package dev.diloco.core.math;

import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.OuterMethod;
import dev.diloco.schemas.OuterOptimizerConfig;

/**
 * The outer step of DiLoCo (Douillard et al. 2023, "DiLoCo: Distributed Low-Communication
 * Training of Language Models", Algorithm 1): the averaged pseudo-gradient
 * g = (θ(r) − θ_local) averaged over workers is treated as a gradient and applied to the global
 * weights by SGD with Nesterov momentum, with PyTorch's semantics (dampening 0):
 *
 * <pre>
 *   m = μ·m + g
 *   θ = θ − lr·(g + μ·m)      NESTEROV (DiLoCo: lr 0.7, μ 0.9)
 *   θ = θ − lr·m              MOMENTUM
 *   θ = θ − lr·g              SGD (m untouched)
 * </pre>
 *
 * A pure function on float arrays, element by element, so applying it chunk by chunk gives the
 * same bits as applying it to the whole vector. The mean g is rounded to float once; the rest is
 * float arithmetic, as in PyTorch's FP32 optimizer, and Java's float arithmetic is the same bits
 * on every machine.
 */
public record OuterStep(OuterMethod method, float momentum) {

  /** DiLoCo's outer learning rate (Douillard et al. 2023), the default of every new run. */
  public static final double DILOCO_LEARNING_RATE = 0.7;
  /** DiLoCo's outer Nesterov momentum. */
  public static final double DILOCO_MOMENTUM = 0.9;

  public OuterStep {
    if (method != OuterMethod.NESTEROV && method != OuterMethod.MOMENTUM
        && method != OuterMethod.SGD) {
      throw new IllegalArgumentException("outer method must be NESTEROV, MOMENTUM or SGD, got "
          + method);
    }
    if (!(momentum >= 0f && momentum < 1f)) {
      throw new IllegalArgumentException("outer momentum must be in [0, 1), got " + momentum);
    }
  }

  /**
   * The step a run's outer optimizer settings describe; settings that cannot step (a learning
   * rate that is not a finite number >= 0, say) are refused, naming the value.
   */
  public static OuterStep of(OuterOptimizerConfig config) {
    double lr = config.getLearningRate();
    if (!(lr >= 0) || Double.isInfinite(lr) || Float.isInfinite((float) lr)) {
      throw new IllegalArgumentException("the outer learning rate must be a finite number >= 0, "
          + "got " + lr);
    }
    return new OuterStep(config.getMethod(), (float) config.getMomentum());
  }

  /** DiLoCo's outer optimizer as a run describes it: Nesterov, lr 0.7, μ 0.9, mean by count. */
  public static OuterOptimizerConfig dilocoConfig() {
    return new OuterOptimizerConfig(OuterMethod.NESTEROV, DILOCO_LEARNING_RATE, DILOCO_MOMENTUM,
        Averaging.COUNT);
  }

  /**
   * One step on {@code n} elements: {@code theta[off + i]} and {@code m[off + i]} change in
   * place, from the sum {@code sum[i]} of {@code count} pseudo-gradients. Rounds apply it through
   * {@code RoundStep}, its one caller.
   */
  public void apply(float learningRate, double[] sum, double count, float[] theta, float[] m,
      int off, int n) {
    if (!(learningRate >= 0f) || Float.isInfinite(learningRate)) {
      throw new IllegalArgumentException("outer learning rate must be >= 0, got " + learningRate);
    }
    if (!(count > 0)) {
      throw new IllegalArgumentException("the sum needs a positive count to average, got " + count);
    }
    float mu = momentum;
    for (int i = 0; i < n; i++) {
      float g = (float) (sum[i] / count);
      int j = off + i;
      switch (method) {
        case NESTEROV -> {
          m[j] = mu * m[j] + g;
          theta[j] = theta[j] - learningRate * (g + mu * m[j]);
        }
        case MOMENTUM -> {
          m[j] = mu * m[j] + g;
          theta[j] = theta[j] - learningRate * m[j];
        }
        default -> theta[j] = theta[j] - learningRate * g;
      }
    }
  }
}
