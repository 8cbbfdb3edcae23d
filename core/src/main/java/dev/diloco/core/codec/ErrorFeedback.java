package dev.diloco.core.codec;

import dev.diloco.core.layout.ChunkPlan;

/**
 * Error feedback for a lossy codec (as in LoCo, Xie et al. 2024, and the 1-bit/low-bit SGD line
 * before it): what the codec left out of one round's pseudo-gradient is added to the next
 * round's before it is encoded, so nothing is lost for good, only late. The residual is worker
 * state, like its AdamW moments.
 *
 * <p>Per round: {@code c = Δ + r} (the compensated pseudo-gradient, which is what the worker
 * encodes and sends), then {@code r = c − Q(c)}, where {@code Q(c)} is what the receivers decode.
 * With round-to-nearest codes {@code Q(c) + r == c} exactly (Sterbenz: a code differs from its
 * value by at most half a step, so the subtraction is exact), unless a block was clamped.
 */
public final class ErrorFeedback {

  private final WireRoundTrip wire;
  private final float[] residual;
  private final float[] sent;

  /** A zero residual for pseudo-gradients of {@code plan}, sent in {@code codec}. */
  public ErrorFeedback(ElementCodec codec, ChunkPlan plan) {
    this.wire = new WireRoundTrip(codec, plan);
    this.residual = new float[Math.toIntExact(plan.totalElements())];
    this.sent = new float[residual.length];
  }

  /**
   * Turns {@code delta} into the compensated pseudo-gradient to send (in place) and keeps, as
   * the next residual, what encoding it will leave out.
   */
  public void compensate(float[] delta) {
    if (delta.length != residual.length) {
      throw new IllegalArgumentException("a pseudo-gradient of " + delta.length
          + " elements; this residual has " + residual.length);
    }
    for (int i = 0; i < delta.length; i++) {
      delta[i] += residual[i];
    }
    wire.decode(delta, sent);
    for (int i = 0; i < delta.length; i++) {
      residual[i] = delta[i] - sent[i];
    }
  }

  /** Takes up a residual saved from {@link #residual()} (a restarted worker's). */
  public void restore(float[] saved) {
    if (saved.length != residual.length) {
      throw new IllegalArgumentException("a residual of " + saved.length + " elements for "
          + residual.length);
    }
    System.arraycopy(saved, 0, residual, 0, residual.length);
  }

  /** Forgets the residual: a worker that re-syncs after non-finite inner steps. */
  public void reset() {
    java.util.Arrays.fill(residual, 0f);
  }

  /** The residual now: what the last {@link #compensate} left out. A copy. */
  public float[] residual() {
    return residual.clone();
  }
}
