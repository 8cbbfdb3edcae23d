package dev.diloco.core.rules;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.codec.PseudoGradientRecords;
import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.PseudoGradientChunk;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The round and membership rules of a chunk, which the table of bad payloads in
 * integration-tests does not reach: what waits, and what is late.
 */
class ChunkRulesTest {

  private static final RunTopics TOPICS = new RunTopics("rules");
  private static final ChunkPlan PLAN = new ChunkPlan(10, 5); // two chunks of 5
  private final ChunkRules rules = new ChunkRules(TOPICS);

  private static PseudoGradientChunk chunk(String worker, int round, float value) {
    float[] delta = {value, value, value, value, value, 0, 0, 0, 0, 0};
    try (var records = new PseudoGradientRecords("rules", worker, PLAN, PayloadFormat.FP16)) {
      return records.chunk(round, 0, delta, new PseudoGradientRecords.Stats(1, 1, 1f));
    }
  }

  /** Round 3 open, chunk 1 closed, w0 and w1 its members. */
  private static RoundWindow round3() {
    return new RoundWindow(3, PLAN, TensorCodec.FP16, NormBound.ofNorm(1.0), 2,
        chunk -> chunk == 1, Set.of("w0", "w1")::contains);
  }

  @AfterEach
  void close() {
    rules.close();
  }

  private Verdict<CheckedChunk> check(String topic, PseudoGradientChunk c, RoundWindow w) {
    return rules.check(topic, 0, c, w); // chunk 0 belongs to partition 0
  }

  @Test
  void aChunkOfTheOpenRoundFromAMemberIsTaken() {
    Verdict<CheckedChunk> v = check(TOPICS.pseudoGradients(), chunk("w0", 3, 0.25f), round3());
    assertThat(v.accepted()).isTrue();
    assertThat(v.value().range().count()).isEqualTo(5);
    assertThat(v.value().canonical().remaining()).isEqualTo(10); // five FP16 values
  }

  @Test
  void theNextRoundAndANewMemberWaitAndSayWhatTheyBecomeIfTheyNeverCome() {
    assertThat(check(TOPICS.pseudoGradients(), chunk("w0", 4, 0.25f), round3()))
        .isEqualTo(new Verdict.Wait<>(DeadLetterReason.ROUND_NOT_OPEN,
            "round 4 is not open here yet: the open round is 3"));
    assertThat(check(TOPICS.pseudoGradients(), chunk("w2", 3, 0.25f), round3()))
        .isEqualTo(new Verdict.Wait<>(DeadLetterReason.WORKER_NOT_IN_ROUND,
            "worker w2 has not joined round 3"));
  }

  @Test
  void aChunkOfTheNextRoundWaitsOnlyOnceItsPayloadPassed() {
    // It is kept whole until its round opens: one per index of the run's length, in bounds.
    PseudoGradientChunk next = chunk("w0", 4, 0.25f);
    assertThat(check(TOPICS.workerPseudoGradients("w0"), PseudoGradientChunk.newBuilder(next)
        .setChunkIndex(70_000).build(), round3()))
        .isInstanceOfSatisfying(Verdict.Reject.class, r -> assertThat(r.reason())
            .isEqualTo(DeadLetterReason.INDEX_OUT_OF_RANGE));
    assertThat(check(TOPICS.pseudoGradients(), PseudoGradientChunk.newBuilder(next)
        .setElementCount(4).build(), round3()))
        .isInstanceOfSatisfying(Verdict.Reject.class, r -> assertThat(r.reason())
            .isEqualTo(DeadLetterReason.WRONG_LENGTH));
    assertThat(check(TOPICS.pseudoGradients(), PseudoGradientChunk.newBuilder(next)
        .setCrc32c(next.getCrc32c() ^ 1).build(), round3()))
        .isInstanceOfSatisfying(Verdict.Reject.class, r -> assertThat(r.reason())
            .isEqualTo(DeadLetterReason.CRC_MISMATCH));
    assertThat(check(TOPICS.pseudoGradients(), chunk("w0", 4, 9f), round3()))
        .isInstanceOfSatisfying(Verdict.Reject.class, r -> assertThat(r.reason())
            .isEqualTo(DeadLetterReason.NORM_BOUND_EXCEEDED));
  }

  @Test
  void earlierRoundsClosedChunksAndRoundsFarAheadAreRejected() {
    assertThat(check(TOPICS.pseudoGradients(), chunk("w0", 2, 0.25f), round3()))
        .isEqualTo(Verdict.reject(DeadLetterReason.LATE,
            "round 2, chunk 0 is closed: the open round is 3"));
    RoundWindow chunk0Closed = new RoundWindow(3, PLAN, TensorCodec.FP16, NormBound.NONE, 2,
        c -> c == 0, w -> true);
    assertThat(check(TOPICS.pseudoGradients(), chunk("w0", 3, 0.25f), chunk0Closed))
        .isEqualTo(Verdict.reject(DeadLetterReason.LATE,
            "round 3, chunk 0 is closed: its sum was emitted or its deadline passed"));
    assertThat(check(TOPICS.pseudoGradients(), chunk("w0", 5, 0.25f), round3()))
        .isEqualTo(Verdict.reject(DeadLetterReason.ROUND_NOT_OPEN,
            "round 5 is not open: the open round is 3"));
    assertThat(check(TOPICS.pseudoGradients(), chunk("w0", 0, 0.25f), null))
        .isEqualTo(Verdict.reject(DeadLetterReason.ROUND_NOT_OPEN,
            "round 0 is not open: the run has no committed round yet"));
  }

  @Test
  void theOriginIsCheckedFirstAndTheNormLast() {
    // On w1's own topic, a chunk that names w0, even of a closed round: named for the spoof.
    assertThat(check(TOPICS.workerPseudoGradients("w1"), chunk("w0", 2, 0.25f), round3()))
        .isInstanceOfSatisfying(Verdict.Reject.class, r -> assertThat(r.reason())
            .isEqualTo(DeadLetterReason.PRINCIPAL_MISMATCH));
    // Five values of 0.5: norm sqrt(5 * 0.25) = 1.118, above the bound 1.
    assertThat(check(TOPICS.pseudoGradients(), chunk("w0", 3, 0.5f), round3()))
        .isInstanceOfSatisfying(Verdict.Reject.class, r -> assertThat(r.reason())
            .isEqualTo(DeadLetterReason.NORM_BOUND_EXCEEDED));
  }

  @Test
  void aChunkOnAnotherPartitionThanItsIndexsIsRejected() {
    // Chunk 0 of 2 partitions belongs to partition 0.
    assertThat(rules.check(TOPICS.pseudoGradients(), 1, chunk("w0", 3, 0.25f), round3()))
        .isEqualTo(Verdict.reject(DeadLetterReason.WRONG_PARTITION,
            "chunk 0 came on partition 1; it belongs to partition 0 of 2"));
  }

  @Test
  void theRunsOwnBoundOnAValueIsWhatItsInnerStepsCanDoWithRoom() {
    var description = dev.diloco.core.testing.TestRuns.description("rules",
        dev.diloco.core.layout.ParameterLayout.builder().add("w", 10).build(), 5, 50, 3e-3);
    // 4 x 50 steps x 3e-3 x (max(1, 0.1 / sqrt(0.05)) + 0.1 x 10) = 1.2
    assertThat(NormBound.of(description).maxElement()).isCloseTo(1.2,
        org.assertj.core.data.Offset.offset(1e-12));
    RoundWindow bounded = new RoundWindow(3, PLAN, TensorCodec.FP16,
        NormBound.of(description), 2, c -> false, w -> true);
    assertThat(check(TOPICS.pseudoGradients(), chunk("w0", 3, 1.0f), bounded).accepted())
        .isTrue();
    assertThat(check(TOPICS.pseudoGradients(), chunk("w0", 3, 2.0f), bounded))
        .isEqualTo(Verdict.reject(DeadLetterReason.NORM_BOUND_EXCEEDED,
            "element 0 of the chunk is 2.0, beyond the bound 1.2 on every value"));
  }

  @Test
  void aTombstoneOrGarbageIsAMalformedRecord() {
    AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
    assertThat(Records.decode(serde, null)).isInstanceOfSatisfying(Verdict.Reject.class,
        r -> assertThat(r.reason()).isEqualTo(DeadLetterReason.MALFORMED_RECORD));
    assertThat(Records.decode(serde, new byte[] {1, 2, 3})).isInstanceOfSatisfying(
        Verdict.Reject.class,
        r -> assertThat(r.reason()).isEqualTo(DeadLetterReason.MALFORMED_RECORD));
    assertThat(Records.decode(serde, serde.encode(chunk("w0", 3, 0.25f))).accepted()).isTrue();
  }
}
