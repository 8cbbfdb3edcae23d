package dev.diloco.reducer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.Fp16;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundFailure;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WorkerHeartbeat;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReducerTopologyTest {

  private static final String RUN = "topo";
  private static final RunTopics TOPICS = new RunTopics(RUN);
  private static final ParameterLayout LAYOUT = ParameterLayout.builder().add("w", 5, 6).build();
  private static final int CHUNK = 8; // 30 elements: chunks of 8, 8, 8, 6
  private static final ChunkPlan PLAN = LAYOUT.chunks(CHUNK);
  private static final List<String> WORKERS = List.of("w0", "w1", "w2");
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
  private static final Duration TIMEOUT = Duration.ofMinutes(5);

  @TempDir
  Path stateDir;

  private TopologyTestDriver driver;
  private SimpleMeterRegistry metrics;
  private TestInputTopic<byte[], byte[]> chunks;
  private TestInputTopic<byte[], byte[]> commits;
  private TestInputTopic<byte[], byte[]> membership;
  private TestOutputTopic<byte[], byte[]> reduced;
  private TestOutputTopic<byte[], byte[]> failures;
  private TestOutputTopic<byte[], byte[]> deadLetters;
  private final AvroSerde<PseudoGradientChunk> chunkSerde = AvroSerde.of(PseudoGradientChunk.class);

  @BeforeEach
  void start() {
    start(0);
  }

  void start(double maxChunkNorm) {
    ReducerConfig config = new ReducerConfig(RUN, 2, TIMEOUT, Duration.ofSeconds(1), 1,
        maxChunkNorm);
    var props = ReducerTopology.streamsConfig(config,
        KafkaClientConfig.of("127.0.0.1:1"), stateDir.toString());
    metrics = new SimpleMeterRegistry();
    driver = new TopologyTestDriver(ReducerTopology.build(config, () -> {
      throw new AssertionError("nothing to re-read: every test starts with empty stores");
    }, metrics), props, T0);
    ByteArraySerializer s = new ByteArraySerializer();
    ByteArrayDeserializer d = new ByteArrayDeserializer();
    chunks = driver.createInputTopic(TOPICS.pseudoGradients(), s, s);
    commits = driver.createInputTopic(TOPICS.commits(), s, s);
    membership = driver.createInputTopic(TOPICS.membership(), s, s);
    reduced = driver.createOutputTopic(TOPICS.reduced(), d, d);
    failures = driver.createOutputTopic(TOPICS.roundFailures(), d, d);
    deadLetters = driver.createOutputTopic(TOPICS.deadLetters(), d, d);

    driver.createInputTopic(TOPICS.model(), s, s).pipeInput(RUN.getBytes(),
        AvroSerde.of(ModelDescription.class).encode(description()));
    commit(0);
    WORKERS.forEach(w -> join(w, 0));
  }

  @AfterEach
  void stop() {
    driver.close();
  }

  @Test
  void sumsEqualAnIndependentReferenceAndTheSameBitsInAnyArrivalOrder() {
    List<PseudoGradientChunk> all = new ArrayList<>();
    for (String w : WORKERS) {
      all.addAll(chunksOf(w, 0, 42));
    }
    List<ReducedChunk> first = reduce(all);
    assertThat(first).hasSize(PLAN.chunkCount());

    for (ReducedChunk r : first) {
      assertThat(r.getComplete()).isTrue();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId()).containsExactlyElementsOf(WORKERS);
      double[] got = new double[r.getElementCount()];
      ExactSum.decode(r.getSumEncoding(), r.getSum(), r.getElementCount(), got, 0);
      ChunkRange range = PLAN.range(r.getChunkIndex());
      for (int i = 0; i < range.count(); i++) {
        double expected = 0; // a few FP16 values add exactly in a double
        for (String w : WORKERS) {
          expected += Fp16.toFloat(Fp16.fromFloat(delta(w, 0, 42)[(int) range.offset() + i]));
        }
        assertThat(got[i]).isEqualTo(expected);
      }
    }

    // A fresh run of the same contributions in another order: the same bits.
    for (long seed = 1; seed <= 3; seed++) {
      stop();
      start();
      List<PseudoGradientChunk> shuffled = new ArrayList<>(all);
      Collections.shuffle(shuffled, new Random(seed));
      List<ReducedChunk> again = reduce(shuffled);
      again.sort((a, b) -> Integer.compare(a.getChunkIndex(), b.getChunkIndex()));
      first.sort((a, b) -> Integer.compare(a.getChunkIndex(), b.getChunkIndex()));
      for (int i = 0; i < first.size(); i++) {
        assertThat(again.get(i).getSum()).isEqualTo(first.get(i).getSum());
        assertThat(again.get(i).getCrc32c()).isEqualTo(first.get(i).getCrc32c());
      }
    }
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void aDuplicateCountsOnceAndGoesToTheDeadLetterTopic() {
    PseudoGradientChunk once = chunksOf("w0", 0, 1).get(0);
    send(once);
    send(once);
    assertThat(letters()).extracting(DeadLetter::getReason).containsExactly(DeadLetterReason.DUPLICATE);
    send(chunksOf("w1", 0, 1).get(0));
    send(chunksOf("w2", 0, 1).get(0));
    ReducedChunk r = AvroSerde.of(ReducedChunk.class).decode(reduced.readValue());
    assertThat(r.getContributors()).hasSize(3);
  }

  /** On a worker's own topic (only its principal may write it), a chunk must be its own. */
  @Test
  void aChunkOnAWorkersOwnTopicThatNamesAnotherWorkerIsRejected() {
    ByteArraySerializer s = new ByteArraySerializer();
    var ownOfW1 = driver.createInputTopic(TOPICS.workerPseudoGradients("w1"), s, s);
    PseudoGradientChunk spoofed = chunksOf("w0", 0, 1).get(0); // names w0
    ownOfW1.pipeInput(RunTopics.chunkKey(0), chunkSerde.encode(spoofed));
    DeadLetter letter = letters().get(0);
    assertThat(letter.getReason()).isEqualTo(DeadLetterReason.PRINCIPAL_MISMATCH);
    assertThat(letter.getDetail()).contains("the chunk names worker w0 but came on "
        + TOPICS.workerPseudoGradients("w1") + ", which only worker w1's principal may write");

    // Each worker's own chunk on its own topic is summed like one on the shared topic.
    ownOfW1.pipeInput(RunTopics.chunkKey(0),
        chunkSerde.encode(chunksOf("w1", 0, 1).get(0)));
    send(chunksOf("w0", 0, 1).get(0));
    send(chunksOf("w2", 0, 1).get(0));
    ReducedChunk r = AvroSerde.of(ReducedChunk.class).decode(reduced.readValue());
    assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
        .containsExactly("w0", "w1", "w2");
  }

  @Test
  void everyKindOfBadChunkIsRejectedWithItsReasonAndTheRoundGoesOn() {
    PseudoGradientChunk good = chunksOf("w0", 0, 7).get(1);
    sendWith(good, c -> c.put("crc32c", c.getCrc32c() ^ 1));
    sendWith(good, c -> c.put("elementCount", 7));
    sendWith(good, c -> c.put("encoding", TensorEncoding.UNKNOWN));
    sendWith(good, c -> c.put("chunkIndex", 9));
    sendWith(good, c -> c.put("round", 3));
    sendWith(good, c -> c.put("workerId", "stranger"));
    sendWith(good, c -> c.put("runId", "other"));
    sendWith(good, c -> c.put("payload", ByteBuffer.wrap(new byte[10])));
    sendWith(good, c -> c.put("encoding", TensorEncoding.FP32));
    chunks.pipeInput(new byte[] {0, 0, 0, 1}, new byte[] {9, 9, 9});
    PseudoGradientChunk nan = chunk("w0", 0, 1, nanDelta(), PayloadFormat.FP16);
    send(nan);

    assertThat(letters()).extracting(DeadLetter::getReason).containsExactly(
        DeadLetterReason.CRC_MISMATCH, DeadLetterReason.WRONG_LENGTH,
        DeadLetterReason.UNKNOWN_ENCODING, DeadLetterReason.INDEX_OUT_OF_RANGE,
        DeadLetterReason.ROUND_NOT_OPEN, DeadLetterReason.RUN_MISMATCH, DeadLetterReason.WRONG_LENGTH,
        DeadLetterReason.LAYOUT_MISMATCH, DeadLetterReason.MALFORMED_RECORD,
        DeadLetterReason.NON_FINITE);
    assertThat(reduced.isEmpty()).isTrue();
    // Nothing bad entered a sum; the stranger's good chunk waits for it to join the round.
    assertThat(count(pointers())).isOne();
    assertThat(metrics.get("diloco.reducer.rejections").tag("reason", "WRONG_LENGTH").counter()
        .count()).isEqualTo(2.0);

    for (String w : WORKERS) {
      send(chunksOf(w, 0, 7).get(1));
    }
    assertThat(reduced.getQueueSize()).isEqualTo(1);
  }

  /**
   * A worker's heartbeat may reach the reducer after its chunks: they wait, and are summed
   * when it shows up. One that never joins is rejected at the deadline; a second chunk of a
   * waiting worker is a duplicate (the first counts).
   */
  @Test
  void aChunkOfAWorkerNotYetJoinedWaitsForItsHeartbeatAndOneThatNeverJoinsIsRejected() {
    PseudoGradientChunk early = chunksOf("w3", 0, 4).get(0);
    send(early);
    send(chunksOf("w3", 0, 5).get(0)); // its restart's chunk: the first one counts
    send(chunksOf("stranger", 0, 4).get(1)); // a chunk whose sum stays open
    assertThat(letters()).extracting(DeadLetter::getReason)
        .containsExactly(DeadLetterReason.DUPLICATE);
    join("w3", 0);
    for (String w : WORKERS) {
      send(chunksOf(w, 0, 4).get(0));
    }
    assertThat(reduced.isEmpty()).as("w3 is a member now, and its chunk has not been added")
        .isTrue();
    driver.advanceWallClockTime(Duration.ofSeconds(1)); // the next check adds it
    ReducedChunk r = AvroSerde.of(ReducedChunk.class).decode(reduced.readValue());
    assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
        .containsExactly("w0", "w1", "w2", "w3");
    assertThat(r.getComplete()).isTrue();

    driver.advanceWallClockTime(TIMEOUT);
    DeadLetter never = letters().get(0);
    assertThat(never.getReason()).isEqualTo(DeadLetterReason.WORKER_NOT_IN_ROUND);
    assertThat(never.getWorkerId()).isEqualTo("stranger");
    assertThat(never.getDetail()).contains("worker stranger had not joined round 0 when its "
        + "deadline passed");
  }

  /**
   * A worker sends round r + 1 after reading its commit, so its chunk may reach the reducer
   * before the commit does: it waits, and is summed when the round opens. One whose round never
   * opens is rejected a round timeout after it came.
   */
  @Test
  void aChunkOfTheNextRoundWaitsForItsCommitAndOneWhoseRoundNeverOpensIsRejected() {
    WORKERS.forEach(w -> join(w, 1));
    send(chunksOf("w0", 1, 5).get(0)); // ahead of commit 1
    assertThat(letters()).isEmpty();
    assertThat(count(pointers())).isOne();
    commit(1);
    driver.advanceWallClockTime(Duration.ofSeconds(1)); // the next check sums it
    send(chunksOf("w1", 1, 5).get(0));
    send(chunksOf("w2", 1, 5).get(0));
    assertThat(readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getRound()).isEqualTo(1);
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
          .containsExactly("w0", "w1", "w2");
    });

    send(chunksOf("w0", 2, 5).get(1)); // round 2 never opens
    send(chunksOf("w0", 4, 5).get(1)); // nor does a round further ahead: rejected at once
    assertThat(letters()).singleElement().satisfies(l -> {
      assertThat(l.getReason()).isEqualTo(DeadLetterReason.ROUND_NOT_OPEN);
      assertThat(l.getRound()).isEqualTo(4);
    });
    driver.advanceWallClockTime(TIMEOUT.plusSeconds(1));
    assertThat(letters()).singleElement().satisfies(l -> {
      assertThat(l.getReason()).isEqualTo(DeadLetterReason.ROUND_NOT_OPEN);
      assertThat(l.getRound()).isEqualTo(2);
      assertThat(l.getDetail()).contains("round 2 is not open here yet: the open round is 1")
          .contains("after the chunk came");
    });
    assertThat(count(pointers())).isZero();
  }

  /**
   * A worker that joins and never sends (a forged JOIN, a worker gone) holds a sum only for a
   * grace: once it has a quorum, at least two minutes after its first contribution. A member
   * that is sending this round is waited for, to the deadline.
   */
  @Test
  void aSilentMemberHoldsASumOnlyForAGraceAndASendingOneIsWaitedFor() {
    join("ghost", 0);
    for (String w : WORKERS) {
      send(chunksOf(w, 0, 12).get(0));
    }
    for (String w : List.of("w0", "w1")) {
      send(chunksOf(w, 0, 12).get(1)); // w2's chunk 1 has not come, but w2 is sending
    }
    driver.advanceWallClockTime(Duration.ofSeconds(110));
    assertThat(reduced.isEmpty()).as("within the grace").isTrue();
    driver.advanceWallClockTime(Duration.ofSeconds(11));
    assertThat(readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getChunkIndex()).isZero();
      assertThat(r.getComplete()).isFalse();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
          .containsExactlyElementsOf(WORKERS);
    });
    send(chunksOf("w2", 0, 12).get(1));
    assertThat(readReduced()).as("chunk 1 waited for w2, not for the ghost").isEmpty();
    driver.advanceWallClockTime(Duration.ofSeconds(1));
    assertThat(readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getChunkIndex()).isOne();
      assertThat(r.getContributors()).hasSize(3);
    });
  }

  @Test
  void aChunkAboveTheNormBoundIsRejectedAndOneBelowItSummed() {
    stop();
    start(0.1); // the test's chunks have norms of about 0.03
    PseudoGradientChunk ok = chunksOf("w0", 0, 11).get(0);
    float[] big = delta("w1", 0, 11);
    for (int i = 0; i < CHUNK; i++) {
      big[i] *= 100;
    }
    send(ok);
    send(chunk("w1", 0, 0, big, PayloadFormat.FP16));
    assertThat(letters()).singleElement().satisfies(l -> {
      assertThat(l.getReason()).isEqualTo(DeadLetterReason.NORM_BOUND_EXCEEDED);
      assertThat(l.getDetail()).contains("above the bound 0.1");
      assertThat(l.getWorkerId()).isEqualTo("w1");
    });
    assertThat(count(pointers())).isEqualTo(1);
  }

  @Test
  void aChunkOfAClosedRoundIsLate() {
    for (String w : WORKERS) {
      send(chunksOf(w, 0, 5).get(0));
    }
    assertThat(reduced.getQueueSize()).isEqualTo(1);
    send(chunksOf("w0", 0, 6).get(0)); // its sum was emitted already
    commit(1);
    send(chunksOf("w0", 0, 6).get(2)); // the open round is 1 now
    assertThat(letters()).extracting(DeadLetter::getReason)
        .containsExactly(DeadLetterReason.LATE, DeadLetterReason.LATE);
  }

  @Test
  void atTheDeadlineAQuorumIsSummedAndNoQuorumFailsTheRound() {
    // Chunks 0-2 get two contributors (the quorum), chunk 3 only one.
    for (String w : List.of("w0", "w1")) {
      chunksOf(w, 0, 3).subList(0, 3).forEach(this::send);
    }
    send(chunksOf("w2", 0, 3).get(3));
    assertThat(reduced.isEmpty()).isTrue();

    driver.advanceWallClockTime(TIMEOUT.plusSeconds(1));
    List<ReducedChunk> partial = readReduced();
    assertThat(partial).hasSize(3).allSatisfy(r -> {
      assertThat(r.getComplete()).isFalse();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId()).containsExactly("w0", "w1");
    });
    RoundFailure failure = AvroSerde.of(RoundFailure.class).decode(failures.readValue());
    assertThat(failure.getRound()).isZero();
    assertThat(failure.getReason()).contains("chunks [3] had fewer than 2 contributors");
    assertThat(failure.getContributors()).containsExactly("w2");
    // After the deadline the round takes nothing more.
    send(chunksOf("w0", 0, 3).get(3));
    assertThat(letters()).extracting(DeadLetter::getReason).containsExactly(DeadLetterReason.LATE);
  }

  @Test
  void aWorkerThatLeavesIsNoLongerWaitedFor() {
    leave("w2", 0);
    for (String w : List.of("w0", "w1")) {
      send(chunksOf(w, 0, 8).get(2));
    }
    assertThat(readReduced()).singleElement().satisfies(r -> assertThat(r.getComplete()).isTrue());
  }

  @Test
  void stateIsEmptyOnceARoundIsOver() {
    for (String w : WORKERS) {
      chunksOf(w, 0, 9).forEach(this::send);
    }
    assertThat(count(pointers())).isZero();
    assertThat(count(closed())).isEqualTo(PLAN.chunkCount()); // until the round is over
    assertThat(metrics.get("diloco.reducer.sums.emitted").counter().count())
        .isEqualTo(PLAN.chunkCount());
    assertThat(metrics.get("diloco.reducer.chunks.summed").counter().count())
        .isEqualTo(3.0 * PLAN.chunkCount());
    commit(1);
    driver.advanceWallClockTime(Duration.ofSeconds(2));
    assertThat(count(closed())).isZero();
  }

  // ---- fixture ----

  private static ModelDescription description() {
    return TestRuns.description(RUN, LAYOUT, CHUNK);
  }

  private void commit(int round) {
    commits.pipeInput(RUN.getBytes(), AvroSerde.of(RoundCommit.class).encode(
        TestRuns.commit(RUN, round, PLAN, T0.toEpochMilli())));
  }

  private void join(String worker, int round) {
    heartbeat(worker, round, HeartbeatKind.JOIN);
  }

  private void leave(String worker, int round) {
    heartbeat(worker, round, HeartbeatKind.LEAVE);
  }

  private void heartbeat(String worker, int round, HeartbeatKind kind) {
    membership.pipeInput(worker.getBytes(), AvroSerde.of(WorkerHeartbeat.class).encode(
        TestRuns.heartbeat(RUN, worker, round, kind)));
  }

  private static float[] delta(String worker, int round, long seed) {
    Random random = new Random(seed * 31 + worker.hashCode() * 7L + round);
    float[] d = new float[(int) PLAN.totalElements()];
    for (int i = 0; i < d.length; i++) {
      d[i] = (float) (random.nextGaussian() * 1e-2);
    }
    return d;
  }

  private static float[] nanDelta() {
    float[] d = delta("w0", 0, 1);
    d[10] = Float.NaN; // in chunk 1
    return d;
  }

  private List<PseudoGradientChunk> chunksOf(String worker, int round, long seed) {
    List<PseudoGradientChunk> list = new ArrayList<>();
    float[] d = delta(worker, round, seed);
    for (int i = 0; i < PLAN.chunkCount(); i++) {
      list.add(chunk(worker, round, i, d, PayloadFormat.FP16));
    }
    return list;
  }

  private static PseudoGradientChunk chunk(String worker, int round, int index, float[] delta,
      PayloadFormat format) {
    ChunkRange range = PLAN.range(index);
    try (ChunkEncoder encoder = new ChunkEncoder(format, CHUNK)) {
      ChunkEncoder.Encoded e = encoder.encode(delta, (int) range.offset(), range.count());
      byte[] payload = new byte[e.payload().remaining()];
      e.payload().get(payload);
      return PseudoGradientChunk.newBuilder()
          .setRunId(RUN).setRound(round).setWorkerId(worker).setChunkIndex(index)
          .setChunkCount(PLAN.chunkCount()).setElementOffset(range.offset())
          .setElementCount(range.count()).setEncoding(format.encoding())
          .setCompression(format.compression()).setBytePlanes(format.bytePlanes())
          .setPayload(ByteBuffer.wrap(payload)).setCrc32c(e.crc32c()).setInnerSteps(10)
          .setTokens(320).setMeanInnerLoss(3f).setCreatedAtMs(0)
          .build();
    }
  }

  private void send(PseudoGradientChunk c) {
    chunks.pipeInput(RunTopics.chunkKey(c.getChunkIndex()), chunkSerde.encode(c));
  }

  private void sendWith(PseudoGradientChunk good, Consumer<PseudoGradientChunk> change) {
    PseudoGradientChunk bad = PseudoGradientChunk.newBuilder(good).build();
    change.accept(bad);
    send(bad);
  }

  private List<ReducedChunk> reduce(List<PseudoGradientChunk> in) {
    in.forEach(this::send);
    return readReduced();
  }

  private List<ReducedChunk> readReduced() {
    AvroSerde<ReducedChunk> serde = AvroSerde.of(ReducedChunk.class);
    return new ArrayList<>(reduced.readValuesToList().stream().map(serde::decode).toList());
  }

  private List<DeadLetter> letters() {
    AvroSerde<DeadLetter> serde = AvroSerde.of(DeadLetter.class);
    return deadLetters.readValuesToList().stream().map(serde::decode).toList();
  }

  private static long count(KeyValueStore<String, ?> store) {
    try (var it = store.all()) {
      long n = 0;
      while (it.hasNext()) {
        it.next();
        n++;
      }
      return n;
    }
  }

  private KeyValueStore<String, byte[]> pointers() {
    return driver.getKeyValueStore(ReducerStores.POINTERS);
  }

  private KeyValueStore<String, Long> closed() {
    return driver.getKeyValueStore(ReducerStores.CLOSED);
  }
}
