package dev.diloco.reducer;

import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.WorkerHeartbeat;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The reducer's topology on Kafka Streams' test driver, with a run of three workers whose
 * round 0 is open: the records the tests send and read, and the stores they look into. Each
 * test makes a new one (a fresh reducer, empty stores) and closes it.
 */
final class ReducerDriver implements AutoCloseable {

  static final String RUN = "topo";
  static final RunTopics TOPICS = new RunTopics(RUN);
  static final ParameterLayout LAYOUT = ParameterLayout.builder().add("w", 5, 6).build();
  static final int CHUNK = 8; // 30 elements: chunks of 8, 8, 8, 6
  static final ChunkPlan PLAN = LAYOUT.chunks(CHUNK);
  static final List<String> WORKERS = List.of("w0", "w1", "w2");
  static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
  static final Duration TIMEOUT = Duration.ofMinutes(5);

  final TopologyTestDriver driver;
  final SimpleMeterRegistry metrics = new SimpleMeterRegistry();
  final TestInputTopic<byte[], byte[]> chunks;
  final TestOutputTopic<byte[], byte[]> reduced;
  final TestOutputTopic<byte[], byte[]> failures;
  final TestOutputTopic<byte[], byte[]> deadLetters;
  private final TestInputTopic<byte[], byte[]> commits;
  private final TestInputTopic<byte[], byte[]> membership;
  private final AvroSerde<PseudoGradientChunk> chunkSerde = AvroSerde.of(PseudoGradientChunk.class);

  /** A reducer with a quorum of 2 and {@code maxChunkNorm} (0: none), its state in {@code dir}. */
  ReducerDriver(Path stateDir, double maxChunkNorm) {
    this(stateDir, maxChunkNorm, description());
  }

  /** As above, of the run {@code description} (of {@link #RUN}, {@link #LAYOUT} and chunking). */
  ReducerDriver(Path stateDir, double maxChunkNorm, ModelDescription description) {
    this(stateDir, new ReducerConfig(RUN, 2, Duration.ofSeconds(1), 1, maxChunkNorm),
        description);
  }

  /** A reducer of {@code config}, its workers w0 to w2 joined on the shared topic. */
  ReducerDriver(Path stateDir, ReducerConfig config, ModelDescription description) {
    var props = ReducerTopology.streamsConfig(config,
        KafkaClientConfig.of("127.0.0.1:1"), stateDir.toString());
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
        AvroSerde.of(ModelDescription.class).encode(description));
    commit(0);
    WORKERS.forEach(w -> join(w, 0));
  }

  @Override
  public void close() {
    driver.close();
  }

  void advance(Duration wallClock) {
    driver.advanceWallClockTime(wallClock);
  }

  /** The test run, whose rounds close {@link #TIMEOUT} after their commit. */
  static ModelDescription description() {
    return ModelDescription.newBuilder(TestRuns.description(RUN, LAYOUT, CHUNK))
        .setRoundTimeoutMs(TIMEOUT.toMillis()).build();
  }

  void commit(int round) {
    commits.pipeInput(RUN.getBytes(), AvroSerde.of(RoundCommit.class).encode(
        TestRuns.commit(RUN, round, PLAN, T0.toEpochMilli())));
  }

  void join(String worker, int round) {
    heartbeat(worker, round, HeartbeatKind.JOIN);
  }

  void leave(String worker, int round) {
    heartbeat(worker, round, HeartbeatKind.LEAVE);
  }

  void heartbeat(String worker, int round, HeartbeatKind kind) {
    membership.pipeInput(worker.getBytes(), AvroSerde.of(WorkerHeartbeat.class).encode(
        TestRuns.heartbeat(RUN, worker, round, kind)));
  }

  /** A heartbeat of {@code worker} on {@code owner}'s own topic, as a worker announces there. */
  void announceOnTopicOf(String owner, String worker, int round, HeartbeatKind kind) {
    ByteArraySerializer s = new ByteArraySerializer();
    driver.createInputTopic(TOPICS.workerPseudoGradients(owner), s, s)
        .pipeInput(worker.getBytes(), AvroSerde.of(WorkerHeartbeat.class).encode(
            TestRuns.heartbeat(RUN, worker, round, kind)));
  }

  /** A progress heartbeat of {@code worker} on its own topic: it trains {@code round}. */
  void progressOnOwnTopic(String worker, int round, int innerStep) {
    ByteArraySerializer s = new ByteArraySerializer();
    WorkerHeartbeat training = WorkerHeartbeat.newBuilder(
        TestRuns.heartbeat(RUN, worker, round, HeartbeatKind.ALIVE)).setInnerStep(innerStep)
        .build();
    driver.createInputTopic(TOPICS.workerPseudoGradients(worker), s, s)
        .pipeInput(worker.getBytes(), AvroSerde.of(WorkerHeartbeat.class).encode(training));
  }

  static float[] delta(String worker, int round, long seed) {
    Random random = new Random(seed * 31 + worker.hashCode() * 7L + round);
    float[] d = new float[(int) PLAN.totalElements()];
    for (int i = 0; i < d.length; i++) {
      d[i] = (float) (random.nextGaussian() * 1e-2);
    }
    return d;
  }

  static float[] nanDelta() {
    float[] d = delta("w0", 0, 1);
    d[10] = Float.NaN; // in chunk 1
    return d;
  }

  static List<PseudoGradientChunk> chunksOf(String worker, int round, long seed) {
    List<PseudoGradientChunk> list = new ArrayList<>();
    float[] d = delta(worker, round, seed);
    for (int i = 0; i < PLAN.chunkCount(); i++) {
      list.add(chunk(worker, round, i, d, PayloadFormat.FP16));
    }
    return list;
  }

  static PseudoGradientChunk chunk(String worker, int round, int index, float[] delta,
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

  void send(PseudoGradientChunk c) {
    chunks.pipeInput(RunTopics.chunkKey(c.getChunkIndex()), chunkSerde.encode(c));
  }

  /** Sends {@code c} on {@code worker}'s own pseudo-gradient topic. */
  void sendOnTopicOf(String worker, PseudoGradientChunk c) {
    ByteArraySerializer s = new ByteArraySerializer();
    driver.createInputTopic(TOPICS.workerPseudoGradients(worker), s, s)
        .pipeInput(RunTopics.chunkKey(c.getChunkIndex()), chunkSerde.encode(c));
  }

  void sendWith(PseudoGradientChunk good, Consumer<PseudoGradientChunk> change) {
    PseudoGradientChunk bad = PseudoGradientChunk.newBuilder(good).build();
    change.accept(bad);
    send(bad);
  }

  List<ReducedChunk> reduce(List<PseudoGradientChunk> in) {
    in.forEach(this::send);
    return readReduced();
  }

  List<ReducedChunk> readReduced() {
    AvroSerde<ReducedChunk> serde = AvroSerde.of(ReducedChunk.class);
    return new ArrayList<>(reduced.readValuesToList().stream().map(serde::decode).toList());
  }

  List<DeadLetter> letters() {
    AvroSerde<DeadLetter> serde = AvroSerde.of(DeadLetter.class);
    return deadLetters.readValuesToList().stream().map(serde::decode).toList();
  }

  /** How many contributions the durable store points at. */
  long pointerCount() {
    return count(driver.getKeyValueStore(ReducerStores.POINTERS));
  }

  /** How many chunks the durable store marks closed. */
  long closedCount() {
    return count(driver.getKeyValueStore(ReducerStores.CLOSED));
  }

  /** How many members of round {@code round} the shared membership topic gave. */
  long sharedMembers(int round) {
    KeyValueStore<String, byte[]> store = driver.getKeyValueStore(RunView.MEMBERS);
    try (var it = store.range(RoundKeys.roundStart(round), RoundKeys.roundEnd(round))) {
      long n = 0;
      while (it.hasNext()) {
        it.next();
        n++;
      }
      return n;
    }
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
}
