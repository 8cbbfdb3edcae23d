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
 * ({@link Lookahead}): eager, the outer step from θ(r) and the optimizer's momentum with a
 * stand-in for the average of round r, the worker's own Δ(r) as the reducer will decode it
 * mixed with the other workers' Δ(r − 1) (round r − 1's sums, from which the worker stepped to
 * θ(r), less its own Δ(r − 1)); delayed, θ(r) itself. The learning rate is the last one the
 * optimizer stepped with (the run's, before its first step): a schedule's next value is the
 * optimizer's to know.
 */
final class NextStart {

  private final Overlap mode;
  private final AsReceived wire;
  private final OuterStep step;
  private float learningRate;
  /** This worker's last Δ as the reducer decodes it, and its round; null before the first. */
  private float[] lastSent;
  private int lastSentRound = -1;

  NextStart(Overlap mode, ElementCodec codec, ChunkPlan plan, OuterOptimizerConfig outer) {
    if (mode == Overlap.NONE) {
      throw new IllegalArgumentException("a run that does not overlap has no next start");
    }
    this.mode = mode;
    this.wire = new AsReceived(codec, plan);
    this.step = OuterStep.of(outer);
    this.learningRate = (float) outer.getLearningRate();
  }

  /** Takes up this worker's Δ of {@code round} as saved (a restarted worker's). */
  void resumeAfter(int round, float[] ownDelta) {
    lastSent = new float[ownDelta.length];
    wire.decode(ownDelta, lastSent);
    lastSentRound = round;
  }

  /**
   * The weights to train round r + 1 from, given round r's {@code commit} and weights
   * {@code theta}, the optimizer's momentum after round r ({@code momentum}; null: unknown, as
   * zero), the sums θ(r) was stepped from ({@code previous}; null: unknown, so this worker's
   * Δ(r) stands in alone) and this worker's Δ(r) as it sends it.
   */
  float[] after(RoundCommit commit, float[] theta, float[] momentum,
      RoundDownload.Sums previous, float[] ownDelta) {
    int round = commit.getRound();
    if (commit.getOutcome() == RoundOutcome.STEPPED) {
      learningRate = (float) commit.getOuterLearningRate();
    }
    float[] next = theta.clone();
    if (mode == Overlap.EAGER) {
      float[] sent = new float[ownDelta.length];
      wire.decode(ownDelta, sent);
      double[] others = null;
      int workers = 1;
      if (previous != null && previous.round() == round - 1 && (!previous.withThisWorker()
          || lastSentRound == round - 1)) {
        others = previous.sum().clone();
        workers = previous.workers() + (previous.withThisWorker() ? 0 : 1);
        if (previous.withThisWorker()) {
          for (int i = 0; i < others.length; i++) {
            others[i] -= lastSent[i]; // exact: the sums are exact, and so is this
          }
        }
      }
      Lookahead.eager(step, learningRate, theta, momentum,
          Lookahead.standIn(sent, others, workers), next);
      lastSent = sent;
      lastSentRound = round;
    }
    return next;
  }
}
