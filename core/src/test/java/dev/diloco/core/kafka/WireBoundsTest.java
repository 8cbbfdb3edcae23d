package dev.diloco.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.core.rules.Verdict;
import dev.diloco.core.testing.Forgeries;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundFailure;
import dev.diloco.schemas.SchemaHistory;
import dev.diloco.schemas.WorkerHeartbeat;
import java.security.KeyPair;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;

class WireBoundsTest {

  /** The byte fields whose bound is the record's size: payloads, checked by the topic rules. */
  private static final Set<String> PAYLOADS = Set.of("PseudoGradientChunk.payload",
      "ReducedChunk.sum", "WeightsChunk.payload", "OptimizerStateChunk.momentum",
      "WorkerState.firstMoment", "WorkerState.secondMoment", "WorkerState.residual",
      "WorkerState.pseudoGradient", "WorkerState.nextStart");

  @Test
  void everyStringAndListOnTheWireHasABoundWithinTheDecodersCeiling() {
    List<String> unbounded = new ArrayList<>();
    for (Schema record : SchemaHistory.RECORDS.values()) {
      fields(record, unbounded);
    }
    assertThat(unbounded).isEmpty();
  }

  private static void fields(Schema record, List<String> unbounded) {
    for (Schema.Field f : record.getFields()) {
      String where = record.getName() + "." + f.name();
      for (Schema type : branches(f.schema())) {
        Object max = f.getObjectProp("maxLength");
        switch (type.getType()) {
          case STRING -> {
            if (!(max instanceof Integer m) || m > WireBounds.MAX_STRING_BYTES) {
              unbounded.add(where + " (maxLength " + max + ")");
            }
          }
          case BYTES -> {
            if (max == null && !PAYLOADS.contains(where)) {
              unbounded.add(where);
            }
          }
          case ARRAY -> {
            if (!(f.getObjectProp("maxItems") instanceof Integer)) {
              unbounded.add(where + " (maxItems)");
            }
            if (type.getElementType().getType() == Schema.Type.STRING
                && !(max instanceof Integer m && m <= WireBounds.MAX_STRING_BYTES)) {
              unbounded.add(where + "[] (maxLength)");
            }
            if (type.getElementType().getType() == Schema.Type.RECORD) {
              fields(type.getElementType(), unbounded);
            }
          }
          case RECORD -> fields(type, unbounded);
          default -> { }
        }
      }
    }
  }

  private static List<Schema> branches(Schema s) {
    return s.getType() == Schema.Type.UNION ? s.getTypes() : List.of(s);
  }

  @Test
  void aCommitWithAReasonOf64KiBIsNeitherWrittenNorRead() {
    RoundCommit commit = RoundCommit.newBuilder(TestRuns.commit("r", 2, new ChunkPlan(20, 8), 0L))
        .setReason("r".repeat(64 << 10)).build();
    AvroSerde<RoundCommit> serde = AvroSerde.of(RoundCommit.class);
    assertThatThrownBy(() -> serde.encode(commit)).isInstanceOf(SerializationException.class)
        .hasMessageContaining("RoundCommit.reason is 65536 bytes long; at most 4096");
    assertThatThrownBy(() -> serde.decode(Forgeries.unbounded(commit)))
        .isInstanceOf(SerializationException.class)
        .hasMessageContaining("a string of 65536 bytes; no field allows more than 4096");
  }

  @Test
  void eachFieldHoldsItsOwnBoundNotTheCeiling() {
    WorkerHeartbeat join = TestRuns.heartbeat("r", "w".repeat(256), 1, HeartbeatKind.JOIN);
    assertThatThrownBy(() -> AvroSerde.of(WorkerHeartbeat.class)
        .decode(Forgeries.unbounded(join)))
        .hasMessageContaining("WorkerHeartbeat.workerId is 256 bytes long; at most 255");
    // In UTF-8: 128 two-byte characters are 256 bytes.
    WorkerHeartbeat wide = TestRuns.heartbeat("r", "é".repeat(128), 1, HeartbeatKind.JOIN);
    assertThatThrownBy(() -> AvroSerde.of(WorkerHeartbeat.class).encode(wide))
        .hasMessageContaining("is 256 bytes long; at most 255");
    WorkerHeartbeat fits = TestRuns.heartbeat("r", "é".repeat(127), 1, HeartbeatKind.JOIN);
    assertThat(AvroSerde.of(WorkerHeartbeat.class).decode(AvroSerde.of(WorkerHeartbeat.class)
        .encode(fits))).isEqualTo(fits);
  }

  @Test
  void nestedRecordsAndListsAreBoundedToo() {
    RoundCommit many = RoundCommit.newBuilder(TestRuns.commit("r", 2, new ChunkPlan(20, 8), 0L))
        .setContributors(Collections.nCopies(10_001, new Contribution("w", 1L, 1, 1f))).build();
    assertThatThrownBy(() -> AvroSerde.of(RoundCommit.class).decode(Forgeries.unbounded(many)))
        .hasMessageContaining("RoundCommit.contributors has 10001 items; at most 10000");
    RoundCommit longName = RoundCommit.newBuilder(many)
        .setContributors(List.of(new Contribution("w".repeat(300), 1L, 1, 1f))).build();
    assertThatThrownBy(() -> AvroSerde.of(RoundCommit.class).encode(longName))
        .hasMessageContaining("Contribution.workerId is 300 bytes long; at most 255");
    RoundFailure failure = new RoundFailure("r", 1, "why", List.of("x".repeat(256)), 1, 0L);
    assertThatThrownBy(() -> AvroSerde.of(RoundFailure.class).encode(failure))
        .hasMessageContaining("RoundFailure.contributors[] is 256 bytes long; at most 255");
  }

  @Test
  void aTextIsCutToFitAtACharacterWithDots() {
    String cut = WireBounds.fit(RoundCommit.SCHEMA$, "reason", "€".repeat(2000)); // 6000 bytes
    assertThat(WireBounds.utf8Length(cut)).isLessThanOrEqualTo(4096);
    assertThat(cut).isEqualTo("€".repeat(1364) + "...");
    assertThat(WireBounds.fit(RoundCommit.SCHEMA$, "reason", "short")).isEqualTo("short");
    assertThat(WireBounds.fit(RoundCommit.SCHEMA$, "reason", (String) null)).isNull();
    DeadLetter letter = DeadLetters.of("t", 0, 1L, new byte[5000], DeadLetterReason.LATE,
        "x".repeat(100_000), "reducer", 0L).build();
    assertThat(AvroSerde.of(DeadLetter.class).decode(AvroSerde.of(DeadLetter.class)
        .encode(letter)).getOriginalKey().remaining()).isEqualTo(1024);
  }

  @Test
  void aValueAUserGivesIsRefusedByNameWhenTheWireCannotHoldIt() {
    assertThatThrownBy(() -> WireBounds.requireFits(WorkerHeartbeat.SCHEMA$, "workerId",
        "w".repeat(300), "worker id"))
        .hasMessage("worker id is 300 bytes long in UTF-8; the wire holds at most 255");
  }

  @Test
  void aCommitTooLongToSignIsRefusedAsUnverifiableNotACrash() {
    KeyPair key = CommitSignatures.generate();
    ModelDescription run = ModelDescription.newBuilder(TestRuns.description("r",
            dev.diloco.core.layout.ParameterLayout.builder().add("w", 20).build(), 8))
        .setCommitKey(java.nio.ByteBuffer.wrap(key.getPublic().getEncoded())).build();
    RoundCommit forged = RoundCommit.newBuilder(TestRuns.commit("r", 2, new ChunkPlan(20, 8), 0L))
        .setReason("r".repeat(70_000)).setSignature(java.nio.ByteBuffer.wrap(new byte[64]))
        .build();
    Verdict<RoundCommit> verdict = CommitSignatures.check(run, forged);
    assertThat(verdict).isInstanceOf(Verdict.Reject.class);
    assertThat(((Verdict.Reject<RoundCommit>) verdict).message())
        .contains("holds a string too long to sign");
  }
}
