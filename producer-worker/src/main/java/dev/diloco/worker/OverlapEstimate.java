package dev.diloco.worker;

import dev.diloco.core.codec.WireRoundTrip;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.round.EagerEstimate;
import dev.diloco.core.round.RoundStep;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.Overlap;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;

/**
 * Where an overlapped worker starts round r + 1 while round r is still being summed
 * ({@link EagerEstimate}): eager, the outer step from θ(r) and the optimizer's momentum with the
 * worker's own Δ(r) as the reducer will decode it; delayed, θ(r) itself. The learning rate is
 * the last one the optimizer stepped with (the run's, before its first step): a schedule's
 * next value is the optimizer's to know.
 */
final class OverlapEstimate {

  private final Overlap mode;
  private final WireRoundTrip wire;
  /** The last step the optimizer took (the run's settings, before its first step). */
  private RoundStep step;
  /** Reused each round: the estimate (trained from, then no longer needed) and the decoded Δ. */
  private final float[] next;
  private final float[] sent;

  OverlapEstimate(Overlap mode, ElementCodec codec, ChunkPlan plan, OuterOptimizerConfig outer) {
    if (mode == Overlap.NONE) {
      throw new IllegalArgumentException("a run that does not overlap has no next start");
    }
    this.mode = mode;
    this.wire = new WireRoundTrip(codec, plan);
    this.step = RoundStep.of(outer, outer.getLearningRate());
    int n = Math.toIntExact(plan.totalElements());
    this.next = new float[n];
    this.sent = mode == Overlap.EAGER ? new float[n] : null;
  }

  /**
   * The weights to train round r + 1 from, given round r's {@code commit} and weights
   * {@code theta}, the optimizer's momentum after round r ({@code momentum}; null: unknown, as
   * zero), this worker's Δ(r) as it sends it, and the estimate round r was trained from
   * ({@code trainedFrom}; null when it waited for θ(r)). The array is this object's,
   * overwritten by the next call: the round it starts is re-based before then.
   */
  float[] after(RoundCommit commit, float[] theta, float[] momentum, float[] ownDelta,
      float[] trainedFrom) {
    if (commit.getOutcome() == RoundOutcome.STEPPED) {
      step = RoundStep.madeBy(commit);
    }
    if (mode == Overlap.EAGER) {
      wire.decode(ownDelta, sent);
      EagerEstimate.eager(step, theta, momentum, sent, trainedFrom, next);
    } else {
      System.arraycopy(theta, 0, next, 0, next.length);
    }
    return next;
  }
}
