package dev.diloco.core.math;

/**
 * The DiLoCo pseudo-gradient (Douillard et al. 2023, Algorithm 1): Δ = θ(r) − θ_local, the
 * global weights the round started from minus the worker's weights after its inner steps. The
 * outer optimizer treats the average Δ as a gradient, so a step along −Δ moves toward where the
 * workers went.
 */
public final class PseudoGradient {
  private PseudoGradient() {}

  /** {@code delta[i] = roundWeights[i] - localWeights[i]}, into a buffer the caller keeps. */
  public static void compute(float[] roundWeights, float[] localWeights, float[] delta) {
    if (roundWeights.length != localWeights.length || delta.length != roundWeights.length) {
      throw new IllegalArgumentException("weights of " + roundWeights.length + " and "
          + localWeights.length + " elements into a delta of " + delta.length);
    }
    for (int i = 0; i < delta.length; i++) {
      delta[i] = roundWeights[i] - localWeights[i];
    }
  }
}
