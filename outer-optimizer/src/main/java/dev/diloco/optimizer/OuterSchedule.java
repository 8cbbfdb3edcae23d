package dev.diloco.optimizer;

/**
 * How the outer learning rate moves with the rounds, as a factor of the run's peak rate (the
 * model description's): constant (DiLoCo's choice), or a linear warm-up over
 * {@code warmupRounds} then a cosine decay to {@code minFactor} of the peak by
 * {@code totalRounds}.
 */
public record OuterSchedule(int warmupRounds, int totalRounds, float minFactor) {

  public static final OuterSchedule CONSTANT = new OuterSchedule(0, 0, 1f);

  public OuterSchedule {
    if (warmupRounds < 0) {
      throw new IllegalArgumentException("warm-up rounds must be >= 0, got " + warmupRounds);
    }
    if (totalRounds < 0) {
      throw new IllegalArgumentException("total rounds must be >= 0 (0: no decay), got "
          + totalRounds);
    }
    if (!(minFactor >= 0f && minFactor <= 1f)) {
      throw new IllegalArgumentException("min factor must be in [0, 1], got " + minFactor);
    }
  }

  /** The learning rate of the step that turns round {@code round} into round + 1. */
  public float learningRate(float peak, int round) {
    if (round < warmupRounds) {
      return peak * (round + 1) / (warmupRounds + 1);
    }
    if (totalRounds == 0) {
      return peak;
    }
    double progress = Math.min(1.0, (double) (round - warmupRounds)
        / Math.max(1, totalRounds - warmupRounds));
    double cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
    return (float) (peak * (minFactor + (1 - minFactor) * cosine));
  }
}
