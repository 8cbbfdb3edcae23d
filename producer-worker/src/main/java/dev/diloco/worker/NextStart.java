package dev.diloco.worker;

import dev.diloco.core.codec.AsReceived;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.math.Lookahead;
import dev.diloco.core.math.OuterStep;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.Overlap;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;

/**
 * Where an overlapped worker starts round r + 1 while round r is still being summed
 * ({@link Lookahead}): eager, the outer step from θ(r) and the optimizer's momentum with the
 * worker's own Δ(r) as the reducer will decode it; delayed, θ(r) itself. The learning rate is
 * the last one the optimizer stepped with (the run's, before its first step): a schedule's
 * next value is the optimizer's to know.
 */
final class NextStart {

  private final Overlap mode;
  private final AsReceived wire;
  private final OuterStep step;
  private float learningRate;

  NextStart(Overlap mode, ElementCodec codec, ChunkPlan plan, OuterOptimizerConfig outer) {
    if (mode == Overlap.NONE) {
      throw new IllegalArgumentException("a run that does not overlap has no next start");
    }
    this.mode = mode;
    this.wire = new AsReceived(codec, plan);
    this.step = OuterStep.of(outer);
    this.learningRate = (float) outer.getLearningRate();
  }

  /**
   * The weights to train round r + 1 from, given round r's {@code commit} and weights
   * {@code theta}, the optimizer's momentum after round r ({@code momentum}; null: unknown, as
   * zero) and this worker's Δ(r) as it sends it.
   */
  float[] after(RoundCommit commit, float[] theta, float[] momentum, float[] ownDelta) {
    if (commit.getOutcome() == RoundOutcome.STEPPED) {
      learningRate = (float) commit.getOuterLearningRate();
    }
    float[] next = theta.clone();
    if (mode == Overlap.EAGER) {
      float[] sent = new float[ownDelta.length];
      wire.decode(ownDelta, sent);
      Lookahead.eager(step, learningRate, theta, momentum, sent, next);
    }
    return next;
  }
}
