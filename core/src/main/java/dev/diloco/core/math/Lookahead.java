package dev.diloco.core.math;

/**
 * Where an overlapped worker starts round r + 1 while round r's average is still on the wire,
 * and how it gets back onto the committed weights once round r + 1 is committed.
 *
 * <p>Eager (after Kale, Douillard, Donchev 2025, "Eager updates for overlapped communication
 * and computation in DiLoCo"): the outer step of round r applied with the worker's own
 * pseudo-gradient standing in for the missing average, θ̂ = OuterStep(θ(r), m(r), Δ_own(r)).
 * (Kale et al. mix the worker's fresh Δ with the others' delayed ones, which in their scheme
 * are not applied yet; here θ(r) holds round r − 1's average already, and mixing the others'
 * Δ(r − 1) in once more made runs unstable: docs/RESULTS.md, section 6.)
 * Delayed: θ̂ = θ(r), the last committed weights (the naive one-step delay, which the paper
 * finds hurts). Either way the worker trains from θ̂ and, when θ(r + 1) arrives, re-bases its
 * local weights by θ(r + 1) − θ̂, so that its pseudo-gradient is again defined against the
 * committed weights.
 */
public final class Lookahead {
  private Lookahead() {}

  /**
   * The eager estimate of round r + 1's weights, into {@code out}: {@code step} applied to
   * round r's weights {@code theta} and the optimizer's momentum after round r {@code momentum}
   * (null: unknown, taken as zero) with {@code ownDelta} as the average. Nothing but
   * {@code out} changes.
   */
  public static void eager(OuterStep step, float learningRate, float[] theta, float[] momentum,
      float[] ownDelta, float[] out) {
    int n = theta.length;
    if (ownDelta.length != n || out.length != n || (momentum != null && momentum.length != n)) {
      throw new IllegalArgumentException("weights of " + n + " elements with a delta of "
          + ownDelta.length + ", momentum of " + (momentum == null ? "none" : momentum.length)
          + ", into " + out.length);
    }
    double[] mean = new double[n];
    for (int i = 0; i < n; i++) {
      mean[i] = ownDelta[i];
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
