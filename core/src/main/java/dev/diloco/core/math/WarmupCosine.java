package dev.diloco.core.math;

/**
 * A learning-rate schedule as a factor of the peak rate, by 0-based index {@code t} (the t-th
 * inner step of a worker, or the step that turns round t into round t + 1): a linear warm-up
 * over {@code warmup} indices, then a cosine decay that reaches {@code floor} at index
 * {@code decayEnd} and stays there; {@code decayEnd} 0 keeps the peak after the warm-up.
 *
 * <p>The formula is nanoGPT's {@code get_lr}: {@code (t + 1) / (warmup + 1)} during the
 * warm-up, so the first step already moves (at 1 / (warmup + 1) of the peak) and index
 * {@code warmup} is the first at the peak; then {@code floor + (1 - floor) · ½(1 + cos(π·p))}
 * with {@code p = (t − warmup) / (decayEnd − warmup)}, clamped to 1. The inner AdamW and the
 * outer optimizer both use it.
 */
public record WarmupCosine(int warmup, int decayEnd, double floor) {

  /** The peak rate throughout: DiLoCo's outer rate, and the inner rate by default. */
  public static final WarmupCosine CONSTANT = new WarmupCosine(0, 0, 1.0);

  public WarmupCosine {
    if (warmup < 0) {
      throw new IllegalArgumentException("warm-up must be >= 0, got " + warmup);
    }
    if (decayEnd < 0) {
      throw new IllegalArgumentException("the end of the decay must be >= 0 (0: no decay), got "
          + decayEnd);
    }
    if (!(floor >= 0 && floor <= 1)) {
      throw new IllegalArgumentException("the floor must be in [0, 1], got " + floor);
    }
  }

  /** The factor of the peak rate at 0-based index {@code t}. */
  public double factor(int t) {
    if (t < 0) {
      throw new IllegalArgumentException("the schedule's index must be >= 0, got " + t);
    }
    if (t < warmup) {
      return (t + 1) / (double) (warmup + 1);
    }
    if (decayEnd == 0) {
      return 1.0;
    }
    double progress = Math.min(1.0, (double) (t - warmup) / Math.max(1, decayEnd - warmup));
    return floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
  }
}
