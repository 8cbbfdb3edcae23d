package dev.diloco.optimizer;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.rules.CheckedSum;
import dev.diloco.core.rules.SumRules;
import dev.diloco.schemas.Contribution;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;

/**
 * The outer optimizer's rounds as plain state, without Kafka (after torchft's {@code
 * LocalSGD}/{@code DiLoCo}: a round is applied into a copy, then committed or rolled back).
 * It holds the committed round r, its weights θ and momentum m, and round r + 1 as it is
 * built: each checked sum is applied with the {@link OuterStep} to its chunk of a copy of θ and
 * m, so that when every chunk is in, the copy is round r + 1. {@link #commit()} makes it the
 * committed round once it is published; {@link #rollback()} drops it when publishing failed.
 */
public final class RoundState {

  private final ChunkPlan plan;
  private final OuterStep step;
  private final WarmupCosine schedule;
  private final float peakLearningRate;

  private int round;
  private float[] theta;
  private float[] momentum;
  private float[] nextTheta;
  private float[] nextMomentum;
  private final BitSet applied = new BitSet();
  /** The contributors of each applied sum. */
  private final List<List<Contribution>> sums = new ArrayList<>();

  /**
   * Committed round {@code round} with weights {@code theta} and momentum {@code momentum}
   * (taken, not copied), stepping at {@code peakLearningRate} times {@code schedule}.
   */
  public RoundState(ChunkPlan plan, OuterStep step, WarmupCosine schedule,
      float peakLearningRate, int round, float[] theta, float[] momentum) {
    if (theta.length != plan.totalElements() || momentum.length != theta.length) {
      throw new IllegalArgumentException("weights of " + theta.length + " and momentum of "
          + momentum.length + " elements for a layout of " + plan.totalElements());
    }
    this.plan = plan;
    this.step = step;
    this.schedule = schedule;
    this.peakLearningRate = peakLearningRate;
    this.round = round;
    this.theta = theta;
    this.momentum = momentum;
    this.nextTheta = theta.clone();
    this.nextMomentum = momentum.clone();
  }

  /**
   * A run with no committed round: round -1, whose next round, 0, is {@code initialWeights}
   * with zero momentum, ready to be published.
   */
  public static RoundState beforeRound0(ChunkPlan plan, OuterStep step, WarmupCosine schedule,
      float peakLearningRate, float[] initialWeights) {
    int n = initialWeights.length;
    RoundState state = new RoundState(plan, step, schedule, peakLearningRate, -1, new float[n],
        new float[n]);
    System.arraycopy(initialWeights, 0, state.nextTheta, 0, n);
    state.applied.set(0, plan.chunkCount());
    return state;
  }

  /** The committed round; the sums being applied are of this round's pseudo-gradients. */
  public int round() {
    return round;
  }

  public ChunkPlan plan() {
    return plan;
  }

  /** The learning rate of the step from this round to the next. */
  public float learningRate() {
    return (float) (peakLearningRate * schedule.factor(round));
  }

  /** Whether the sum of chunk {@code index} of this round has been applied. */
  public boolean applied(int index) {
    return applied.get(index);
  }

  /**
   * Applies a checked sum of this round's chunk: its part of the next round is then done.
   * Returns why the round cannot step instead, when the step would make a weight or its
   * momentum non-finite (finite sums can still overflow a float, and a learning rate can be
   * absurd): the round is then to be rolled back and failed, never published.
   */
  public Optional<String> apply(CheckedSum sum) {
    int index = sum.range().index();
    if (sum.sum().getRound() != round || applied.get(index)) {
      throw new IllegalStateException("the sum of round " + sum.sum().getRound() + ", chunk "
          + index + " is not one to apply now: the rules let only a first sum of round "
          + round + " through");
    }
    int from = Math.toIntExact(sum.range().offset());
    step.apply(learningRate(), sum.values(), 0, sum.contributors(), nextTheta, nextMomentum,
        from, sum.range().count());
    applied.set(index);
    sums.add(sum.sum().getContributors());
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
    return applied.cardinality() == plan.chunkCount();
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
    return SumRules.roundContributors(sums);
  }

  /** Drops what was applied of the next round: it starts again from the committed round. */
  public void rollback() {
    System.arraycopy(theta, 0, nextTheta, 0, theta.length);
    System.arraycopy(momentum, 0, nextMomentum, 0, momentum.length);
    applied.clear();
    sums.clear();
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
