package dev.diloco.optimizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.rules.CheckedSum;
import dev.diloco.core.rules.NormBound;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.OuterMethod;
import dev.diloco.schemas.ReducedChunk;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The optimizer's round without Kafka: every number is worked out by hand, exact in binary. */
class RoundStateTest {

  // Four weights in two chunks of two; Nesterov with lr 0.5 and mu 0.5.
  private static final ChunkPlan PLAN = new ChunkPlan(4, 2);
  private static final OuterStep NESTEROV = new OuterStep(OuterMethod.NESTEROV, 0.5f);

  private static RoundState round0() {
    return round0(NormBound.NONE);
  }

  private static RoundState round0(NormBound bound) {
    return new RoundState("r", PLAN, bound, NESTEROV, WarmupCosine.CONSTANT, 0.5f, 0,
        new float[] {1f, 1f, 1f, 1f}, new float[4]);
  }

  private static ReducedChunk sum(int round, int index, double... values) {
    return TestSums.fp64(round, index, List.of("w0", "w1"), values);
  }

  private static ReducedChunk sum(int round, int index, List<String> workers,
      double... values) {
    return TestSums.fp64(round, index, workers, values);
  }

  @Test
  void aRoundIsBuiltChunkByChunkAndBecomesTheCommittedOneOnlyOnCommit() {
    RoundState state = round0();
    // Chunk 0: sum (1, -0.5) of 2 -> g = (0.5, -0.25); m = g;
    // theta = 1 - 0.5 * (g + 0.5 g) = 1 - 0.75 g = (0.625, 1.1875).
    assertThat(taken(state.offer(sum(0, 0, 1.0, -0.5)))).isTrue();
    assertThat(state.complete()).isFalse();
    assertThat(state.weights()).containsExactly(1f, 1f, 1f, 1f);
    assertThat(state.nextWeights()).containsExactly(0.625f, 1.1875f, 1f, 1f);

    // Chunk 1: sum (2, 0) -> g = (1, 0); theta = (1 - 0.75, 1) = (0.25, 1).
    state.offer(sum(0, 1, 2.0, 0.0));
    assertThat(state.complete()).isTrue();
    assertThat(state.contributors()).extracting(Contribution::getWorkerId)
        .containsExactly("w0", "w1");

    state.commit();
    assertThat(state.round()).isEqualTo(1);
    assertThat(state.weights()).containsExactly(0.625f, 1.1875f, 0.25f, 1f);
    assertThat(state.momentum()).containsExactly(0.5f, -0.25f, 1f, 0f);
    assertThat(state.complete()).isFalse();
    assertThat(state.contributors()).isEmpty();
    assertThat(state.nextWeights()).containsExactly(state.weights());

    // Round 1, chunk 0: sum (0, 0) -> g = 0; m = 0.5 m = (0.25, -0.125);
    // theta = theta - 0.5 * (0 + 0.5 m) = (0.625 - 0.0625, 1.1875 + 0.03125).
    state.offer(sum(1, 0, 0.0, 0.0));
    assertThat(state.nextMomentum()).containsExactly(0.25f, -0.125f, 1f, 0f);
    assertThat(state.nextWeights()).containsExactly(0.5625f, 1.21875f, 0.25f, 1f);
  }

  @Test
  void aSumBeyondItsContributorsShareOfTheRunsBoundIsRefused() {
    // At most 1 a value from each worker: a sum of two holds no value beyond 2. A huge but
    // finite one would throw the weights so far that every later round failed.
    RoundState state = round0(new NormBound(1.0, 0));
    assertThat(taken(state.offer(sum(0, 0, 2.0, -2.0)))).isTrue();
    assertThat(state.offer(sum(0, 1, 1e30, 0.0))).isEqualTo(new RoundState.Refused(reject(
        DeadLetterReason.NORM_BOUND_EXCEEDED, "element 0 of the sum is 1.0E30, beyond 2 "
            + "contributors times the bound 1.0 on every value")));
    assertThat(state.offer(sum(0, 1, List.of("w0"), 1.5, 0.0))).isEqualTo(new RoundState.Refused(
        reject(DeadLetterReason.NORM_BOUND_EXCEEDED, "element 0 of the sum is 1.5, beyond 1 "
            + "contributors times the bound 1.0 on every value")));
    assertThat(taken(state.offer(sum(0, 1, 2.0, 0.0)))).isTrue();
  }

  @Test
  void aStepThatWouldMakeAWeightNonFiniteIsRefusedWithItsReason() {
    RoundState state = round0();
    // Finite sums, whose mean overflows a float: the weight would be -Infinity.
    assertThat(state.offer(sum(0, 0, 1e39, 0.0))).isInstanceOfSatisfying(
        RoundState.Unsteppable.class, u -> assertThat(u.why())
            .contains("chunk 0 makes element 0 non-finite"));
    state.rollback();
    assertThat(state.nextWeights()).containsExactly(1f, 1f, 1f, 1f);
    assertThat(state.offer(sum(0, 0, 1.0, -0.5))).isInstanceOf(RoundState.Taken.class);
  }

  @Test
  void theRoundsContributorsAreThoseInEverySum() {
    RoundState state = round0();
    state.offer(sum(0, 0, List.of("w0", "w1", "w2"), 1.0, 1.0));
    state.offer(sum(0, 1, List.of("w0", "w2"), 1.0, 1.0)); // w1's chunk 1 did not make it
    assertThat(state.contributors()).extracting(Contribution::getWorkerId)
        .containsExactly("w0", "w2");
  }

  @Test
  void aRollbackDropsWhatWasAppliedOfTheNextRound() {
    RoundState state = round0();
    state.offer(sum(0, 0, 1.0, -0.5));
    state.rollback();
    assertThat(state.round()).isZero();
    assertThat(state.contributors()).isEmpty();
    assertThat(state.nextWeights()).containsExactly(1f, 1f, 1f, 1f);
    assertThat(state.nextMomentum()).containsExactly(0f, 0f, 0f, 0f);
    // The same sum applies again, to the same bits.
    state.offer(sum(0, 0, 1.0, -0.5));
    assertThat(state.nextWeights()).containsExactly(0.625f, 1.1875f, 1f, 1f);
  }

  @Test
  void onlyAFirstSumOfTheOpenRoundIsApplied() {
    RoundState state = round0();
    assertThat(taken(state.offer(sum(0, 1, 2.0, 0.0)))).isTrue();
    float[] after = state.nextWeights().clone();
    assertThat(state.offer(sum(0, 1, 2.0, 0.0))).isEqualTo(new RoundState.Refused(reject(
        DeadLetterReason.DUPLICATE, "the sum of chunk 1 of round 0 was applied already")));
    assertThat(state.offer(sum(3, 0, 2.0, 0.0))).isEqualTo(new RoundState.Refused(reject(
        DeadLetterReason.ROUND_NOT_OPEN, "round 3 is not open: the open round is 0")));
    assertThat(state.nextWeights()).containsExactly(after);
  }

  private static boolean taken(RoundState.Offered offered) {
    return offered instanceof RoundState.Taken;
  }

  private static Verdict.Reject<CheckedSum> reject(DeadLetterReason reason, String detail) {
    return new Verdict.Reject<>(reason, detail);
  }

  @Test
  void beforeRound0TheNextRoundIsTheInitialWeightsAndTheRateFollowsTheSchedule() {
    RoundState state = RoundState.beforeRound0("r", PLAN, NormBound.NONE, NESTEROV,
        new WarmupCosine(3, 0, 1), 0.5f,
        new float[] {4f, 3f, 2f, 1f});
    assertThat(state.round()).isEqualTo(-1);
    assertThat(state.complete()).isTrue();
    state.commit();
    assertThat(state.round()).isZero();
    assertThat(state.weights()).containsExactly(4f, 3f, 2f, 1f);
    assertThat(state.momentum()).containsExactly(0f, 0f, 0f, 0f);
    // Warm-up over 3 rounds: round 0 steps at 1/4 of the peak 0.5.
    assertThat(state.learningRate()).isEqualTo(0.125f);
  }
}
