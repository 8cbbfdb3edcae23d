package dev.diloco.core.round;


/**
 * Where an overlapped worker starts round r + 1 while round r's average is still on the wire,
 * and how it gets back onto the committed weights once round r + 1 is committed.
 *
 * <p>Eager (after Kale, Douillard, Donchev 2025, "Eager updates for overlapped communication
 * and computation in DiLoCo"): the outer step of round r applied with the worker's own
 * pseudo-gradient standing in for the missing average, θ̂ = RoundStep(θ(r), m(r), s) with
 * s = Δ_own(r) − ½·(θ̂(r) − θ(r)), θ̂(r) the estimate round r was trained from.
 * (Kale et al. mix the worker's fresh Δ with the others' delayed ones, which in their scheme
 * are not applied yet; here θ(r) holds round r − 1's average already, and mixing the others'
 * Δ(r − 1) in once more made runs unstable: docs/RESULTS.md, section 6.)
 *
 * <p>Why the half of the last offset: a worker whose round started at θ(r) + e (e = θ̂(r) −
 * θ(r), its own Δ's difference from the average, times η·(1 + μ) ≈ 1.3 at DiLoCo's outer
 * settings) undoes a share k of e in its inner steps, and that share is in its Δ(r); with Δ
 * alone as the stand-in the next offset is about −1.3·k·e, which grows from round to round
 * where k > 0.75 (its training loss climbed, and the run ended 12% above synchronous rounds).
 * Taking the undone share back out leaves −1.3·(k − ½)·e, below e for every k in [0, 1].
 * Summed over the workers the offsets cancel, so the average is not moved; with one worker
 * the estimate is exact, e = 0, and the run is the synchronous one bit for bit.
 * Delayed: θ̂ = θ(r), the last committed weights (the naive one-step delay, which the paper
 * finds hurts). Either way the worker trains from θ̂ and, when θ(r + 1) arrives, re-bases its
 * local weights by θ(r + 1) − θ̂, so that its pseudo-gradient is again defined against the
 * committed weights.
 */
public final class EagerEstimate {
  private EagerEstimate() {}

  /** The share of the last round's offset taken out of the stand-in (see the class comment). */
  public static final float SELF_CORRECTION = 0.5f;

  /**
   * The eager estimate of round r + 1's weights, into {@code out}: {@code step} applied to
   * round r's weights {@code theta} and the optimizer's momentum after round r {@code momentum}
   * (null: unknown, taken as zero) with {@code ownDelta} − {@link #SELF_CORRECTION} ·
   * ({@code trainedFrom} − {@code theta}) as the average; {@code trainedFrom} is the estimate
   * round r was trained from (null: it was trained from {@code theta}). {@code out} may be
   * {@code trainedFrom}; nothing else changes.
   */
  public static void eager(RoundStep step, float[] theta, float[] momentum, float[] ownDelta,
      float[] trainedFrom, float[] out) {
    int n = theta.length;
    if (ownDelta.length != n || out.length != n || (momentum != null && momentum.length != n)
        || (trainedFrom != null && trainedFrom.length != n)) {
      throw new IllegalArgumentException("weights of " + n + " elements with a delta of "
          + ownDelta.length + ", momentum of " + (momentum == null ? "none" : momentum.length)
          + ", a start of " + (trainedFrom == null ? "none" : trainedFrom.length) + ", into "
          + out.length);
    }
    double[] mean = new double[n];
    for (int i = 0; i < n; i++) {
      mean[i] = trainedFrom == null ? ownDelta[i]
          : ownDelta[i] - SELF_CORRECTION * (trainedFrom[i] - theta[i]);
    }
    float[] m = momentum == null ? new float[n] : momentum.clone();
    System.arraycopy(theta, 0, out, 0, n);
    step.applyMean(mean, out, m);
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
