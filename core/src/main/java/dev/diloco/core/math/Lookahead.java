package dev.diloco.core.math;

/**
 * Where an overlapped worker starts round r + 1 while round r's average is still on the wire,
 * and how it gets back onto the committed weights once round r + 1 is committed.
 *
 * <p>Eager (Kale, Douillard, Donchev 2025, "Eager updates for overlapped communication and
 * computation in DiLoCo"): the outer step of round r applied with a stand-in for the missing
 * average, θ̂ = OuterStep(θ(r), m(r), ĝ): the worker's own pseudo-gradient of round r mixed with
 * the other workers' of round r − 1, ĝ = (Δ_own(r) + Σ_others Δ(r − 1)) / M ({@link #standIn}).
 * Delayed: θ̂ = θ(r), the last committed weights (the naive one-step delay, which the paper
 * finds hurts). Either way the worker trains from θ̂ and, when θ(r + 1) arrives, re-bases its
 * local weights by θ(r + 1) − θ̂, so that its pseudo-gradient is again defined against the
 * committed weights.
 */
public final class Lookahead {
  private Lookahead() {}

  /**
   * Kale et al.'s stand-in for round r's average pseudo-gradient: {@code (own[i] + others[i]) /
   * workers}, where {@code own} is this worker's Δ(r) and {@code others} the sum of the other
   * workers' Δ(r − 1) (null: none known, so {@code own} alone, as with one worker).
   */
  public static double[] standIn(float[] own, double[] others, int workers) {
    if (others != null && (others.length != own.length || workers < 1)) {
      throw new IllegalArgumentException("a delta of " + own.length + " elements, others' sum of "
          + others.length + ", " + workers + " workers");
    }
    double[] mean = new double[own.length];
    for (int i = 0; i < own.length; i++) {
      mean[i] = others == null ? own[i] : (own[i] + others[i]) / workers;
    }
    return mean;
  }

  /**
   * The eager estimate of round r + 1's weights, into {@code out}: {@code step} applied to
   * round r's weights {@code theta} and the optimizer's momentum after round r {@code momentum}
   * (null: unknown, taken as zero) with {@code mean} standing in for the average. Nothing but
   * {@code out} changes.
   */
  public static void eager(OuterStep step, float learningRate, float[] theta, float[] momentum,
      double[] mean, float[] out) {
    int n = theta.length;
    if (mean.length != n || out.length != n || (momentum != null && momentum.length != n)) {
      throw new IllegalArgumentException("weights of " + n + " elements with a mean of "
          + mean.length + ", momentum of " + (momentum == null ? "none" : momentum.length)
          + ", into " + out.length);
    }
    float[] m = momentum == null ? new float[n] : momentum.clone();
    System.arraycopy(theta, 0, out, 0, n);
    step.apply(learningRate, mean, 0, 1, out, m, 0, n);
  }

  /**
   * {@code local += committed − start}: the local weights, trained from {@code start}, moved by
   * what the estimate missed. Δ = committed − local is then start − (local before the re-base).
   */
  public static void rebase(float[] local, float[] start, float[] committed) {
    if (start.length != local.length || committed.length != local.length) {
      throw new IllegalArgumentException("local weights of " + local.length + " elements, a "
          + "start of " + start.length + ", committed weights of " + committed.length);
    }
    for (int i = 0; i < local.length; i++) {
      local[i] += committed[i] - start[i];
    }
  }
}
