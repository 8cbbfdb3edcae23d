package dev.diloco.optimizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.RecordPlace;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OuterMethod;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundFailure;
import dev.diloco.schemas.RoundOutcome;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The optimizer's decisions without Kafka, record by record: what it publishes and when, what
 * it refuses and why, and what a committed or an aborted round leaves. Numbers by hand, exact.
 */
class OuterRoundsTest {

  // Four weights in two chunks of two; Nesterov with lr 0.5 and mu 0.5. Workers with an inner
  // rate so large that the run has no bound on their values (RoundStateTest holds sums to one).
  private static final ModelDescription MODEL = ModelDescription.newBuilder(
      TestRuns.description("r", ParameterLayout.builder().add("w", 4).build(), 2, 10,
          Double.MAX_VALUE))
      .setOuterOptimizer(new OuterOptimizerConfig(OuterMethod.NESTEROV, 0.5, 0.5,
          Averaging.COUNT)).build();
  private static final RecordPlace AT = new RecordPlace("sums", 0, 9);
  private static final AvroSerde<ReducedChunk> SUMS = AvroSerde.of(ReducedChunk.class);

  private long now = 1_000;
  private final OuterRounds rounds = new OuterRounds(MODEL, WarmupCosine.CONSTANT, () -> now);

  private static byte[] sum(int round, int index, double... values) {
    return SUMS.encode(TestSums.fp64(round, index, List.of("w0", "w1"), values));
  }

  /** Round 0 published and committed: weights 1, momentum 0. */
  private void atRound0() {
    OuterRounds.Publish start = rounds.start(new float[] {1f, 1f, 1f, 1f});
    assertThat(start.outcome()).isEqualTo(RoundOutcome.INITIAL);
    rounds.committed(start, now);
  }

  @Test
  void whenEveryChunksSumIsInTheRoundIsPublishedAndCommittedItIsTheNewest() {
    atRound0();
    now = 2_000;
    assertThat(rounds.onSum(AT, null, sum(0, 0, 1.0, -0.5))).isEqualTo(new OuterRounds.Wait());
    now = 3_000;
    OuterRounds.Decision last = rounds.onSum(AT, null, sum(0, 1, 2.0, 0.0));
    assertThat(last).isEqualTo(new OuterRounds.Publish(RoundOutcome.STEPPED, null, -1));
    // g = sum / 2; m = g; theta = 1 - 0.5 * (g + 0.5 g) = 1 - 0.75 g
    RoundPublisher.Round next = rounds.next((OuterRounds.Publish) last);
    assertThat(next.number()).isEqualTo(1);
    assertThat(next.weights()).containsExactly(0.625f, 1.1875f, 0.25f, 1f);
    assertThat(next.momentum()).containsExactly(0.5f, -0.25f, 1f, 0f);
    assertThat(next.learningRate()).isEqualTo(0.5);
    assertThat(next.openedAtMs()).isEqualTo(1_000);
    assertThat(next.reductionDoneAtMs()).isEqualTo(3_000);
    assertThat(next.contributors()).extracting(c -> c.getWorkerId()).containsExactly("w0", "w1");
    rounds.committed((OuterRounds.Publish) last, now);
    assertThat(rounds.round()).isEqualTo(1);
  }

  @Test
  void aRecordThatIsNoSumOrNotOneOfTheOpenRoundIsRefusedWithItsReason() {
    atRound0();
    assertThat(rounds.onSum(AT, null, new byte[] {1, 2, 3})).isEqualTo(new OuterRounds.Wait());
    assertThat(rounds.onSum(new RecordPlace("sums", 1, 4), new byte[] {7},
        sum(5, 0, 1.0, 1.0))).isEqualTo(new OuterRounds.Wait());
    assertThat(rounds.onSum(AT, null, sum(0, 0, 1.0, 1.0))).isEqualTo(new OuterRounds.Wait());
    assertThat(rounds.onSum(AT, null, sum(0, 0, 1.0, 1.0))).isEqualTo(new OuterRounds.Wait());
    assertThat(rounds.refusals()).extracting(OuterRounds.Refusal::reason).containsExactly(
        DeadLetterReason.MALFORMED_RECORD, DeadLetterReason.ROUND_NOT_OPEN,
        DeadLetterReason.DUPLICATE);
    OuterRounds.Refusal notOpen = rounds.refusals().get(1);
    assertThat(notOpen.key()).containsExactly(7);
    assertThat(notOpen.letter().getOriginalPartition()).isEqualTo(1);
    assertThat(notOpen.letter().getOriginalOffset()).isEqualTo(4);
    assertThat(notOpen.letter().getRound()).isEqualTo(5);
    assertThat(notOpen.letter().getDetail()).isEqualTo("ROUND_NOT_OPEN: round 5 is not open: "
        + "the open round is 0");
    // They go out with the round that commits, once.
    OuterRounds.Decision publish = rounds.onSum(AT, null, sum(0, 1, 1.0, 1.0));
    rounds.committed((OuterRounds.Publish) publish, now);
    assertThat(rounds.refusals()).isEmpty();
  }

  @Test
  void aFailureReportRepublishesTheCommittedWeightsOnceWhateverTheNumberOfReports() {
    atRound0();
    rounds.onSum(AT, null, sum(0, 0, 1.0, -0.5)); // applied to the next round, then dropped
    byte[] report = AvroSerde.of(RoundFailure.class).encode(new RoundFailure("r", 0,
        "1 of 3 workers", List.of("w0"), 2, 0L));
    now += MODEL.getRoundTimeoutMs(); // the round's deadline: when the reducer reports
    OuterRounds.Decision decision = rounds.onFailure(AT, null, report);
    assertThat(decision).isEqualTo(new OuterRounds.Publish(RoundOutcome.REPUBLISHED,
        "round 0 failed: 1 of 3 workers", 0));
    RoundPublisher.Round next = rounds.next((OuterRounds.Publish) decision);
    assertThat(next.weights()).containsExactly(1f, 1f, 1f, 1f);
    assertThat(next.contributors()).isEmpty();
    assertThat(next.learningRate()).isZero();
    rounds.committed((OuterRounds.Publish) decision, now);
    // Every reducer task reports it: the others change nothing and are no error.
    assertThat(rounds.onFailure(AT, null, report)).isEqualTo(new OuterRounds.Wait());
    assertThat(rounds.refusals()).isEmpty();
    // A report of a round that is not open is.
    rounds.onFailure(AT, null, AvroSerde.of(RoundFailure.class).encode(new RoundFailure("r", 7, "x",
        List.of(), 2, 0L)));
    assertThat(rounds.refusals()).extracting(OuterRounds.Refusal::reason)
        .containsExactly(DeadLetterReason.ROUND_NOT_OPEN);
  }

  /**
   * The reducer reports a failure only once the round's deadline has passed: a report that comes
   * earlier (anyone who can write the topic can write one) is held until then, and counts only
   * if the round is still open {@link OuterRounds#HELD_PAST_DEADLINE} after it.
   */
  @Test
  void aFailureReportBeforeTheDeadlineIsHeldAndCountsOnlyIfTheRoundIsStillOpenAfterIt() {
    OuterRounds rounds = new OuterRounds(ModelDescription.newBuilder(MODEL)
        .setRoundTimeoutMs(60_000).build(), WarmupCosine.CONSTANT, () -> now);
    rounds.committed(rounds.start(new float[] {1f, 1f, 1f, 1f}), 1_000);
    AvroSerde<RoundFailure> failures = AvroSerde.of(RoundFailure.class);
    now = 2_000;
    assertThat(rounds.onFailure(AT, null, failures.encode(new RoundFailure("r", 0, "early",
        List.of(), 1, 0L)))).isEqualTo(new OuterRounds.Wait());
    assertThat(rounds.refusals()).isEmpty();
    now = 61_000; // the deadline
    assertThat(rounds.onClock()).isEqualTo(new OuterRounds.Wait());
    now = 70_999;
    assertThat(rounds.onClock()).isEqualTo(new OuterRounds.Wait());
    now = 71_000;
    OuterRounds.Decision failed = rounds.onClock();
    assertThat(failed).isEqualTo(new OuterRounds.Publish(RoundOutcome.REPUBLISHED,
        "round 0 failed: early", 0));
    rounds.committed((OuterRounds.Publish) failed, 72_000);

    // Round 1: an early report, then its sums: the round steps, and the report is dropped.
    now = 73_000;
    rounds.onFailure(AT, null, failures.encode(new RoundFailure("r", 1, "early", List.of(), 1,
        0L)));
    assertThat(rounds.onSum(AT, null, sum(1, 0, 1.0, 1.0))).isEqualTo(new OuterRounds.Wait());
    OuterRounds.Decision stepped = rounds.onSum(AT, null, sum(1, 1, 1.0, 1.0));
    assertThat(stepped).isEqualTo(new OuterRounds.Publish(RoundOutcome.STEPPED, null, -1));
    rounds.committed((OuterRounds.Publish) stepped, 74_000);
    now = 1_000_000;
    assertThat(rounds.onClock()).isEqualTo(new OuterRounds.Wait());

    // Round 2, past its deadline: a report counts at once.
    assertThat(rounds.onFailure(AT, null, failures.encode(new RoundFailure("r", 2, "late",
        List.of(), 1, 0L)))).isEqualTo(new OuterRounds.Publish(RoundOutcome.REPUBLISHED,
        "round 2 failed: late", 2));
  }

  @Test
  void aDescriptionWhoseRoundsCannotCloseIsRefusedByName() {
    assertThatThrownBy(() -> new OuterRounds(ModelDescription.newBuilder(MODEL)
        .setRoundTimeoutMs(0).build(), WarmupCosine.CONSTANT, () -> now))
        .hasMessage("run r's description: a round timeout must be more than 0 and at most 7 "
            + "days, got PT0S");
  }

  @Test
  void aStepThatWouldMakeAWeightNonFiniteIsNeverPublished() {
    atRound0();
    OuterRounds.Decision decision = rounds.onSum(AT, null, sum(0, 0, 1e39, 0.0));
    assertThat(decision).isInstanceOfSatisfying(OuterRounds.Publish.class, p -> {
      assertThat(p.outcome()).isEqualTo(RoundOutcome.REPUBLISHED);
      assertThat(p.reason()).startsWith("round 0 failed: the outer step on the sum of chunk 0 "
          + "makes element 0 non-finite");
    });
    assertThat(rounds.next((OuterRounds.Publish) decision).weights())
        .containsExactly(1f, 1f, 1f, 1f);
  }

  @Test
  void anAbortedRoundGoesBackToTheCommittedStateAndReadsItsSumsAgainToTheSameBits() {
    atRound0();
    rounds.onSum(AT, null, new byte[] {1});
    rounds.onSum(AT, null, sum(0, 0, 1.0, -0.5));
    OuterRounds.Publish publish = (OuterRounds.Publish) rounds.onSum(AT, null, sum(0, 1, 2.0, 0.0));
    float[] first = rounds.next(publish).weights().clone();
    // The transaction aborted: the service reloads round 0 from the log and reads again.
    RoundCommit round0 = TestRuns.commit("r", 0, rounds.plan(), 1_000);
    rounds.resume(round0, new float[] {1f, 1f, 1f, 1f}, new float[4]);
    assertThat(rounds.round()).isZero();
    assertThat(rounds.refusals()).as("sent again with the records they refuse").isEmpty();
    rounds.onSum(AT, null, sum(0, 0, 1.0, -0.5));
    OuterRounds.Decision again = rounds.onSum(AT, null, sum(0, 1, 2.0, 0.0));
    assertThat(rounds.next((OuterRounds.Publish) again).weights()).containsExactly(first);
  }

  @Test
  void settingsItCannotAverageOrStepWithAreRefusedAtTheStart() {
    ModelDescription byTokens = ModelDescription.newBuilder(MODEL).setOuterOptimizer(
        new OuterOptimizerConfig(OuterMethod.NESTEROV, 0.5, 0.5, Averaging.TOKENS)).build();
    assertThatThrownBy(() -> new OuterRounds(byTokens, WarmupCosine.CONSTANT, () -> 0))
        .hasMessageContaining("outer averaging TOKENS is not supported");
    ModelDescription nanRate = ModelDescription.newBuilder(MODEL).setOuterOptimizer(
        new OuterOptimizerConfig(OuterMethod.NESTEROV, Double.NaN, 0.5, Averaging.COUNT)).build();
    assertThatThrownBy(() -> new OuterRounds(nanRate, WarmupCosine.CONSTANT, () -> 0))
        .hasMessageContaining("got NaN");
  }
}
