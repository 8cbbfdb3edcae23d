package dev.diloco.optimizer;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.round.RoundStep;
import dev.diloco.core.round.RoundSums;
import dev.diloco.core.rules.CheckedSum;
import dev.diloco.core.rules.NormBound;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.ReducedChunk;
import java.util.List;
import java.util.Optional;

/**
 * The outer optimizer's rounds as plain state, without Kafka (after torchft's {@code
 * LocalSGD}/{@code DiLoCo}: a round is applied into a copy, then committed or rolled back).
 * It holds the committed round r, its weights θ and momentum m, and round r + 1 as it is
 * built: each sum {@link RoundSums} takes is applied by the {@link RoundStep} to its chunk of a
 * copy of θ and m, so that when every chunk is in, the copy is round r + 1. {@link #commit()} makes it the
 * committed round once it is published; {@link #rollback()} drops it when publishing failed.
 */
public final class RoundState {

  private final String runId;
  private final ChunkPlan plan;
  /** The run's bound on each worker's values: the sums' bound ({@link RoundSums}). */
  private final NormBound bound;
  private final OuterStep step;
  private final WarmupCosine schedule;
  private final float peakLearningRate;

  private int round;
  private float[] theta;
  private float[] momentum;
  private float[] nextTheta;
  private float[] nextMomentum;
  /** The sums of this round taken so far. */
  private RoundSums sums;

  /**
   * Committed round {@code round} of run {@code runId} with weights {@code theta} and momentum {@code momentum}
   * (taken, not copied), stepping at {@code peakLearningRate} times {@code schedule}.
   */
  public RoundState(String runId, ChunkPlan plan, NormBound bound, OuterStep step,
      WarmupCosine schedule, float peakLearningRate, int round, float[] theta,
      float[] momentum) {
    if (theta.length != plan.totalElements() || momentum.length != theta.length) {
      throw new IllegalArgumentException("weights of " + theta.length + " and momentum of "
          + momentum.length + " elements for a layout of " + plan.totalElements());
    }
    this.runId = runId;
    this.plan = plan;
    this.bound = bound;
    this.step = step;
    this.schedule = schedule;
    this.peakLearningRate = peakLearningRate;
    this.round = round;
    this.theta = theta;
    this.momentum = momentum;
    this.nextTheta = theta.clone();
    this.nextMomentum = momentum.clone();
    this.sums = new RoundSums(runId, plan, bound, round);
  }

  /**
   * A run with no committed round: round -1, whose next round, 0, is {@code initialWeights}
   * with zero momentum, ready to be published.
   */
  public static RoundState beforeRound0(String runId, ChunkPlan plan, NormBound bound,
      OuterStep step, WarmupCosine schedule, float peakLearningRate, float[] initialWeights) {
    int n = initialWeights.length;
    RoundState state = new RoundState(runId, plan, bound, step, schedule, peakLearningRate, -1,
        new float[n], new float[n]);
    System.arraycopy(initialWeights, 0, state.nextTheta, 0, n);
    return state;
  }

  /** The committed round; the sums being applied are of this round's pseudo-gradients. */
  public int round() {
    return round;
  }

  /** The learning rate of the step from this round to the next. */
  public float learningRate() {
    return (float) (peakLearningRate * schedule.factor(round));
  }

  /**
   * Offers a sum of this round: when {@link RoundSums} takes it, it is applied, and its chunk
   * of the next round is done, unless the step would make a weight or its momentum non-finite
   * (finite sums can still overflow a float, and a learning rate can be absurd): the round is
   * then to be rolled back and failed, never published.
   */
  public Offered offer(ReducedChunk sum) {
    Verdict<CheckedSum> verdict = sums.offer(sum);
    if (verdict instanceof Verdict.Reject<CheckedSum> refused) {
      return new Refused(refused);
    }
    CheckedSum taken = verdict.value();
    new RoundStep(step, learningRate()).apply(taken, nextTheta, nextMomentum);
    Optional<String> nonFinite = nonFinite(taken);
    return nonFinite.isPresent() ? new Unsteppable(nonFinite.get()) : new Taken(taken);
  }

  /** What became of a sum offered to the round. */
  public sealed interface Offered permits Taken, Refused, Unsteppable {}

  /** Taken and applied: its chunk of the next round is done. */
  public record Taken(CheckedSum sum) implements Offered {}

  /** Not a sum this round takes: the rules' rejection, for its dead letter. */
  public record Refused(Verdict.Reject<CheckedSum> why) implements Offered {}

  /** Taken, but its step would make a weight or its momentum non-finite: the round fails. */
  public record Unsteppable(String why) implements Offered {}

  private Optional<String> nonFinite(CheckedSum sum) {
    int index = sum.range().index();
    int from = Math.toIntExact(sum.range().offset());
    for (int i = from; i < from + sum.range().count(); i++) {
      if (!Float.isFinite(nextTheta[i]) || !Float.isFinite(nextMomentum[i])) {
        return Optional.of("the outer step on the sum of chunk " + index + " makes element "
            + (i - from) + " non-finite (weight " + nextTheta[i] + ", momentum "
            + nextMomentum[i] + ")");
      }
    }
    return Optional.empty();
  }

  /** Whether every chunk's sum is in: the next round can be published. */
  public boolean complete() {
    return round < 0 || sums.complete();
  }

  /** The next round's weights as built so far (the committed ones where no sum is applied). */
  public float[] nextWeights() {
    return nextTheta;
  }

  public float[] nextMomentum() {
    return nextMomentum;
  }

  public float[] weights() {
    return theta;
  }

  public float[] momentum() {
    return momentum;
  }

  /**
   * Who is in every sum applied so far, in ascending worker-id order: what the round's commit
   * lists. A worker missing from one sum (its chunk was refused, or came late) is not a
   * contributor of the round.
   */
  public List<Contribution> contributors() {
    return round < 0 ? List.of() : sums.contributors();
  }

  /** Drops what was applied of the next round: it starts again from the committed round. */
  public void rollback() {
    System.arraycopy(theta, 0, nextTheta, 0, theta.length);
    System.arraycopy(momentum, 0, nextMomentum, 0, momentum.length);
    sums = new RoundSums(runId, plan, bound, round);
  }

  /** The next round, as built, becomes the committed one, once it is published. */
  public void commit() {
    float[] t = theta;
    theta = nextTheta;
    nextTheta = t;
    float[] m = momentum;
    momentum = nextMomentum;
    nextMomentum = m;
    round++;
    rollback();
  }
}
