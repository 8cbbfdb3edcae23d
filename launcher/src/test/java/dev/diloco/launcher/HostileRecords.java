package dev.diloco.launcher;

import com.github.luben.zstd.Zstd;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.codec.PseudoGradientRecords;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.DeadLetters;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.testing.Forgeries;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundFailure;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WorkerHeartbeat;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * The table of {@link HostileInputIntegrationTest}: one crafted record per case, for every topic
 * of a live run, each with what must become of it. Written while round {@code open} trains:
 * chunks that must reach the payload checks are of round {@code open + 1}, which waits for its
 * commit and is then checked whole; workers w0 and w1 have topics of their own.
 */
final class HostileRecords {

  /** What must become of a record. */
  sealed interface Expect {}

  /** A dead letter with {@code reason}, written by {@code by}. */
  record DeadLettered(DeadLetterReason reason, String by) implements Expect {}

  /** No dead letter, and nobody dies of it: {@code effect} says what is checked instead. */
  record Ignored(String effect) implements Expect {}

  record Case(String name, String topic, Integer partition, byte[] value, Expect expect) {}

  private static final String REDUCER = "reducer";
  private static final String OPTIMIZER = "outer-optimizer";
  /** Longer than any string on the wire may be, and than Java's writeUTF writes. */
  private static final String LONG_ID = "m".repeat(70_000);

  private final RunTopics topics;
  private final ChunkPlan plan;
  private final int partitions;
  private final int open;
  private final Random random = new Random(19);
  private final List<Case> cases = new ArrayList<>();

  private HostileRecords(RunTopics topics, ChunkPlan plan, int partitions, int open) {
    this.topics = topics;
    this.plan = plan;
    this.partitions = partitions;
    this.open = open;
  }

  /**
   * The cases for run {@code run} while {@code open} trains; {@code oldSum}: a sum the reducer
   * wrote for an earlier round, sent again.
   */
  static List<Case> table(ModelDescription run, ChunkPlan plan, int partitions, int open,
      ReducedChunk oldSum) {
    HostileRecords t = new HostileRecords(new RunTopics(run.getRunId()), plan, partitions, open);
    t.pseudoGradients();
    t.ownTopics();
    t.membership();
    t.others(run, oldSum);
    return t.cases;
  }

  private void pseudoGradients() {
    String shared = topics.pseudoGradients();
    int next = open + 1;
    reducer("a chunk whose payload claims 2^31 - 9 bytes, in 34 bytes", shared, 0,
        Forgeries.chunkClaimingAHugePayload(topics.runId()), DeadLetterReason.MALFORMED_RECORD);
    reducer("random bytes", shared, 0, garbage(), DeadLetterReason.MALFORMED_RECORD);
    reducer("a tombstone", shared, 0, null, DeadLetterReason.MALFORMED_RECORD);
    chunk("a chunk of another run", chunk("other", mallory(), next, 0, 1e-3f, c -> { }),
        DeadLetterReason.RUN_MISMATCH);
    chunk("a chunk of round 0, closed long ago", chunk(mallory(), 0, 0, 1e-3f),
        DeadLetterReason.LATE);
    chunk("w0's name on a chunk three rounds ahead", chunk("w0", open + 3, 0, 2e-3f),
        DeadLetterReason.ROUND_NOT_OPEN);
    chunk("a wrong CRC32C", bad(next, 0, c -> c.setCrc32c(c.getCrc32c() ^ 1)),
        DeadLetterReason.CRC_MISMATCH);
    chunk("a NaN", chunk(mallory(), next, 0, Float.NaN), DeadLetterReason.NON_FINITE);
    chunk("an infinity", chunk(mallory(), next, 2, Float.POSITIVE_INFINITY),
        DeadLetterReason.NON_FINITE);
    chunk("values of 60000 with a valid CRC32C", chunk(mallory(), next, 0, 60000f),
        DeadLetterReason.NORM_BOUND_EXCEEDED);
    chunk("a wrong element count", bad(next, 0, c -> c.setElementCount(7)),
        DeadLetterReason.WRONG_LENGTH);
    chunk("a wrong chunk count", bad(next, 0, c -> c.setChunkCount(plan.chunkCount() + 1)),
        DeadLetterReason.LAYOUT_MISMATCH);
    chunk("chunk index 9 of 3", bad(next, 0, c -> c.setChunkIndex(9)),
        DeadLetterReason.INDEX_OUT_OF_RANGE);
    chunk("an unknown encoding", bad(next, 0, c -> c.setEncoding(TensorEncoding.UNKNOWN)),
        DeadLetterReason.UNKNOWN_ENCODING);
    chunk("a zstd bomb: 16 MiB of zeros in a few hundred bytes", bad(next, 0, c -> c
        .setCompression(Compression.ZSTD)
        .setPayload(ByteBuffer.wrap(Zstd.compress(new byte[16 << 20])))),
        DeadLetterReason.WRONG_LENGTH);
    chunk("FP32 values in an FP16 run", chunk(topics.runId(), mallory(), next, 0, 1e-3f,
        c -> { }, PayloadFormat.FP32), DeadLetterReason.LAYOUT_MISMATCH);
    PseudoGradientChunk misplaced = chunk("w0", next, 1, 3e-3f);
    reducer("w0's name on chunk 1 of the next round, on partition 0, not 1", shared, 0,
        encode(misplaced), DeadLetterReason.WRONG_PARTITION);
    chunk("a worker that never joins the round", chunk(mallory(), next, 0, 1e-3f),
        DeadLetterReason.LATE);
    reducer("a worker id of 70,000 characters", shared, topics.partitionOf(0, partitions),
        Forgeries.unbounded(chunk(LONG_ID, next, 0, 1e-3f)), DeadLetterReason.MALFORMED_RECORD);
  }

  private void ownTopics() {
    String ofW0 = topics.workerPseudoGradients("w0");
    reducer("w1's name on a chunk on w0's own topic", ofW0, 0,
        encode(chunk("w1", open + 1, 0, 1e-3f)), DeadLetterReason.PRINCIPAL_MISMATCH);
    reducer("w1's LEAVE on w0's own topic", ofW0, 0,
        heartbeat("w1", open + 1, HeartbeatKind.LEAVE), DeadLetterReason.PRINCIPAL_MISMATCH);
    reducer("w0's JOIN of a round five ahead, on its own topic", ofW0, 0,
        heartbeat("w0", open + 5, HeartbeatKind.JOIN), DeadLetterReason.ROUND_NOT_OPEN);
  }

  private void membership() {
    String members = topics.membership();
    ignored("a heartbeat whose run id claims 2^31 - 9 bytes, in 22 bytes", members,
        Forgeries.heartbeatClaimingAHugeName(topics.runId()), "the reducer skips it");
    ignored("random bytes", members, garbage(), "the reducer skips it");
    ignored("a tombstone", members, null, "the reducer skips it");
    for (int round = open; round <= open + 5; round++) {
      ignored("w1's LEAVE of round " + round + ", on the shared topic", members,
          heartbeat("w1", round, HeartbeatKind.LEAVE), "every later commit lists w1");
    }
    ignored("a JOIN of a worker id of 70,000 characters", members, Forgeries.unbounded(
        TestRuns.heartbeat(topics.runId(), LONG_ID, open + 1, HeartbeatKind.JOIN)),
        "the reducer skips it");
    for (int round = open + 1; round <= open + 2; round++) {
      ignored("a JOIN of round " + round + " for a worker that never sends", members,
          heartbeat("ghost", round, HeartbeatKind.JOIN), "the round commits after the grace");
    }
  }

  private void others(ModelDescription run, ReducedChunk oldSum) {
    ignored("a commit whose contributors claim 2^31 - 9 items, in 61 bytes", topics.commits(),
        Forgeries.commitClaimingHugeContributors(topics.runId()), "workers and services skip it");
    ignored("random bytes", topics.commits(), garbage(), "workers and services skip it");
    ignored("a commit with a reason of 64 KiB", topics.commits(), Forgeries.unbounded(
        RoundCommit.newBuilder(TestRuns.commit(topics.runId(), open + 1, plan, 0L))
            .setReason("r".repeat(64 << 10)).build()), "workers and services skip it");
    ignored("a tombstone", topics.commits(), null, "workers and services skip it");
    ignored("a second description: another layout, no key", topics.model(),
        AvroSerde.of(ModelDescription.class).encode(TestRuns.description(topics.runId(),
            ParameterLayout.builder().add("w", 8).build(), 8)), "the first description counts");
    ignored("random bytes", topics.model(), garbage(), "the first description counts");
    ignored("random bytes", topics.weights(), garbage(), "workers skip it");
    ignored("a tombstone", topics.weights(), null, "workers skip it");
    ignored("random bytes", topics.optimizerState(), garbage(), "read only on a resume");
    ignored("random bytes", topics.deadLetters(), garbage(), "inspect counts it unreadable");
    AvroSerde<ReducedChunk> sums = AvroSerde.of(ReducedChunk.class);
    optimizer("random bytes", topics.reduced(), garbage(), DeadLetterReason.MALFORMED_RECORD);
    optimizer("a sum of round " + oldSum.getRound() + ", sent again", topics.reduced(),
        sums.encode(oldSum), DeadLetterReason.ROUND_NOT_OPEN);
    optimizer("a sum of another run", topics.reduced(), sums.encode(ReducedChunk.newBuilder(oldSum)
        .setRunId("other").build()), DeadLetterReason.RUN_MISMATCH);
    AvroSerde<RoundFailure> failures = AvroSerde.of(RoundFailure.class);
    optimizer("random bytes", topics.roundFailures(), garbage(),
        DeadLetterReason.MALFORMED_RECORD);
    optimizer("a failure with a reason of 64 KiB", topics.roundFailures(), Forgeries.unbounded(
        new RoundFailure(topics.runId(), open, "r".repeat(64 << 10), List.of(), 1, 0L)),
        DeadLetterReason.MALFORMED_RECORD);
    ignored("a dead letter with a detail of 64 KiB", topics.deadLetters(), Forgeries.unbounded(
        DeadLetters.of(topics.pseudoGradients(), 0, 0L, null, DeadLetterReason.LATE, "", "x", 0L)
            .setDetail("d".repeat(64 << 10)).build()), "inspect counts it unreadable");
    optimizer("a failure of round 0", topics.roundFailures(), failures.encode(
        new RoundFailure(topics.runId(), 0, "forged", List.of(), 1, 0L)),
        DeadLetterReason.ROUND_NOT_OPEN);
    ignored("a failure of the open round, well formed, before its deadline",
        topics.roundFailures(), failures.encode(new RoundFailure(topics.runId(), open, "forged",
            List.of(), 1, 0L)), "held until the deadline: the round steps first");
    optimizer("a failure of another run", topics.roundFailures(), failures.encode(
        new RoundFailure("other", open, "forged", List.of(), 1, 0L)),
        DeadLetterReason.RUN_MISMATCH);
  }

  // ---- making records ----

  /**
   * A worker id of the attacker's, new each time: chunks of the next round wait, and a second
   * one of the same worker for the same sum would be a DUPLICATE instead.
   */
  private String mallory() {
    return "mallory-" + cases.size();
  }

  private PseudoGradientChunk chunk(String worker, int round, int index, float value) {
    return chunk(topics.runId(), worker, round, index, value, c -> { });
  }

  /** A chunk of the attacker's, then changed. */
  private PseudoGradientChunk bad(int round, int index,
      Consumer<PseudoGradientChunk.Builder> change) {
    return chunk(topics.runId(), mallory(), round, index, 1e-3f, change);
  }

  private PseudoGradientChunk chunk(String runId, String worker, int round, int index,
      float value, Consumer<PseudoGradientChunk.Builder> change) {
    return chunk(runId, worker, round, index, value, change, PayloadFormat.FP16);
  }

  private PseudoGradientChunk chunk(String runId, String worker, int round, int index,
      float value, Consumer<PseudoGradientChunk.Builder> change, PayloadFormat format) {
    float[] delta = new float[(int) plan.totalElements()];
    for (int i = 0; i < delta.length; i++) {
      delta[i] = Float.isFinite(value) ? value * (1 - (i % 7) / 70f) : (i % 5 == 0 ? value : 0);
    }
    try (var records = new PseudoGradientRecords(runId, worker, plan, format)) {
      PseudoGradientChunk.Builder b = PseudoGradientChunk.newBuilder(records.chunk(round, index,
          delta, new PseudoGradientRecords.Stats(1, 64, 3f)));
      change.accept(b);
      return b.build();
    }
  }

  private void chunk(String name, PseudoGradientChunk c, DeadLetterReason reason) {
    int index = Math.max(0, Math.min(c.getChunkIndex(), plan.chunkCount() - 1));
    reducer(name, topics.pseudoGradients(), topics.partitionOf(index, partitions), encode(c),
        reason);
  }

  private static byte[] encode(PseudoGradientChunk c) {
    return AvroSerde.of(PseudoGradientChunk.class).encode(c);
  }

  private byte[] heartbeat(String worker, int round, HeartbeatKind kind) {
    return AvroSerde.of(WorkerHeartbeat.class).encode(TestRuns.heartbeat(topics.runId(), worker,
        round, kind));
  }

  private byte[] garbage() {
    byte[] bytes = new byte[1 + random.nextInt(200)];
    random.nextBytes(bytes);
    return bytes;
  }

  private void reducer(String name, String topic, int partition, byte[] value,
      DeadLetterReason reason) {
    cases.add(new Case(name, topic, partition, value, new DeadLettered(reason, REDUCER)));
  }

  private void optimizer(String name, String topic, byte[] value, DeadLetterReason reason) {
    cases.add(new Case(name, topic, null, value, new DeadLettered(reason, OPTIMIZER)));
  }

  private void ignored(String name, String topic, byte[] value, String effect) {
    cases.add(new Case(name, topic, null, value, new Ignored(effect)));
  }
}
