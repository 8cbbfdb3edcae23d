package dev.diloco.reducer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.WorkerHeartbeat;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ReducerIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  private static final ParameterLayout LAYOUT = ParameterLayout.builder().add("w", 100, 50).build();
  private static final int CHUNK = 1024; // 5000 elements: 5 chunks over 2 partitions
  private static final ChunkPlan PLAN = LAYOUT.chunks(CHUNK);
  private static final int PARTITIONS = 2;
  private static final List<String> WORKERS = List.of("w0", "w1", "w2");
  private static final Duration WAIT = Duration.ofSeconds(90);

  @TempDir
  Path dir;

  @Test
  void aReducerKilledMidRoundAndRestartedGivesTheSameSumsWithEveryContributionOnce()
      throws Exception {
    KafkaClientConfig clients = KAFKA.clients();

    // Reference: one reducer, never interrupted.
    RunTopics steady = open("steady", clients);
    try (Reducer reducer = new Reducer(config("steady"), clients, dir.resolve("steady"),
        new SimpleMeterRegistry(), Map.of())) {
      reducer.start(WAIT);
      for (String w : WORKERS) {
        sendChunks(steady, w, clients);
      }
      awaitSums(steady, clients);
    }
    Map<Integer, String> expected = sums(steady, clients);

    // The same contributions, with the reducer killed after it has summed two workers' chunks.
    RunTopics killed = open("killed", clients);
    Process first = startProcess("killed", dir.resolve("killed-1"));
    try {
      sendChunks(killed, "w0", clients);
      sendChunks(killed, "w1", clients);
      awaitCommittedInput(killed, clients, 2 * PLAN.chunkCount());
      first.destroyForcibly().waitFor(30, TimeUnit.SECONDS); // SIGKILL: no clean-up at all
      assertThat(first.isAlive()).isFalse();
      assertThat(sums(killed, clients)).isEmpty(); // nothing was complete yet

      sendChunks(killed, "w2", clients);
      Process second = startProcess("killed", dir.resolve("killed-2")); // no local state
      try {
        awaitSums(killed, clients);
        assertThat(sums(killed, clients)).isEqualTo(expected).isEqualTo(reference());
      } finally {
        second.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      }
    } finally {
      first.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
  }

  @SuppressWarnings("try") // a is closed mid-test on purpose: that is the take-over
  @Test
  void twoInstancesShareTheChunksAndOneTakesOverWhenTheOtherStops() throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    RunTopics pair = open("pair", clients);
    Map<String, Object> quickRebalance = Map.of(
        org.apache.kafka.streams.StreamsConfig.consumerPrefix("session.timeout.ms"), 6000,
        org.apache.kafka.streams.StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1000);
    try (Reducer a = new Reducer(config("pair"), clients, dir.resolve("a"),
            new SimpleMeterRegistry(), quickRebalance);
        Reducer b = new Reducer(config("pair"), clients, dir.resolve("b"),
            new SimpleMeterRegistry(), quickRebalance)) {
      a.start(WAIT);
      b.start(WAIT);
      await().atMost(WAIT).until(() -> a.activeTasks().size() == 1 && b.activeTasks().size() == 1);

      sendChunks(pair, "w0", clients);
      sendChunks(pair, "w1", clients);
      awaitCommittedInput(pair, clients, 2 * PLAN.chunkCount());
      a.close(); // its half of the open sums moves to b, which re-reads them
      await().atMost(WAIT).until(() -> b.activeTasks().size() == PARTITIONS);

      sendChunks(pair, "w2", clients);
      awaitSums(pair, clients);
      assertThat(sums(pair, clients)).isEqualTo(reference());
    }
  }

  /** The sums computed here, without Kafka, from the same contributions. */
  private static Map<Integer, String> reference() {
    Map<Integer, String> sums = new TreeMap<>();
    for (int i = 0; i < PLAN.chunkCount(); i++) {
      ChunkRange range = PLAN.range(i);
      ExactSum sum = ExactSum.create(dev.diloco.core.codec.TensorCodec.FP16, range.count());
      for (String w : WORKERS) {
        byte[] fp16 = new byte[2 * range.count()];
        dev.diloco.core.codec.TensorCodec.FP16.encode(delta(w), (int) range.offset(),
            range.count(), fp16, 0);
        sum.add(w, ByteBuffer.wrap(fp16));
      }
      byte[] bytes = new byte[sum.maxSumBytes()];
      int n = sum.writeSum(bytes, 0);
      sums.put(i, HexFormat.of().formatHex(bytes, 0, n));
    }
    return sums;
  }

  private static ReducerConfig config(String run) {
    return new ReducerConfig(run, 1, Duration.ofSeconds(1), PARTITIONS);
  }

  /** Topics, model, round 0 and three members: what a run looks like to the reducer. */
  private static RunTopics open(String run, KafkaClientConfig clients) throws Exception {
    RunTopics topics = new RunTopics(run);
    Topics.create(clients, topics.newTopics(PARTITIONS, (short) 1, clients));
    byte[] key = run.getBytes(StandardCharsets.UTF_8);
    try (var producer = producer(clients)) {
      ModelDescription d = TestRuns.description(run, LAYOUT, CHUNK);
      producer.send(new ProducerRecord<>(topics.model(), key,
          AvroSerde.of(ModelDescription.class).encode(d)));
      producer.send(new ProducerRecord<>(topics.commits(), key, AvroSerde.of(RoundCommit.class)
          .encode(TestRuns.commit(run, 0, PLAN, System.currentTimeMillis()))));
      for (String w : WORKERS) {
        producer.send(new ProducerRecord<>(topics.membership(), w.getBytes(StandardCharsets.UTF_8),
            AvroSerde.of(WorkerHeartbeat.class).encode(
                TestRuns.heartbeat(run, w, 0, HeartbeatKind.JOIN))));
      }
      producer.flush();
    }
    return topics;
  }

  private static void sendChunks(RunTopics topics, String worker, KafkaClientConfig clients)
      throws Exception {
    float[] delta = delta(worker);
    AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
    try (var producer = producer(clients);
        var encoder = new ChunkEncoder(PayloadFormat.FP16, CHUNK)) {
      for (int i = 0; i < PLAN.chunkCount(); i++) {
        ChunkRange range = PLAN.range(i);
        ChunkEncoder.Encoded e = encoder.encode(delta, (int) range.offset(), range.count());
        PseudoGradientChunk chunk = PseudoGradientChunk.newBuilder()
            .setRunId(topics.runId()).setRound(0).setWorkerId(worker).setChunkIndex(i)
            .setChunkCount(PLAN.chunkCount()).setElementOffset(range.offset())
            .setElementCount(range.count()).setEncoding(PayloadFormat.FP16.encoding())
            .setCompression(PayloadFormat.FP16.compression()).setBytePlanes(false)
            .setPayload(e.payload()).setCrc32c(e.crc32c()).setInnerSteps(10).setTokens(320)
            .setMeanInnerLoss(3f).setCreatedAtMs(System.currentTimeMillis())
            .build();
        producer.send(new ProducerRecord<>(topics.pseudoGradients(),
            topics.partitionOf(i, PARTITIONS), RunTopics.chunkKey(i),
            serde.encode(chunk))).get(30, TimeUnit.SECONDS);
      }
    }
  }

  private static float[] delta(String worker) {
    Random random = new Random(worker.hashCode());
    float[] delta = new float[(int) PLAN.totalElements()];
    for (int i = 0; i < delta.length; i++) {
      delta[i] = (float) (random.nextGaussian() * 1e-2);
    }
    return delta;
  }

  /** Waits until the reducer has committed its progress past {@code records} input records. */
  private static void awaitCommittedInput(RunTopics topics, KafkaClientConfig clients,
      long records) {
    try (Admin admin = Admin.create(clients.admin())) {
      await().atMost(WAIT).until(() -> {
        Map<TopicPartition, OffsetAndMetadata> offsets = admin
            .listConsumerGroupOffsets("diloco-reducer-" + topics.runId())
            .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
        return offsets.entrySet().stream()
            .filter(e -> e.getKey().topic().equals(topics.pseudoGradients()))
            .mapToLong(e -> e.getValue().offset()).sum() >= records;
      });
    }
  }

  private static void awaitSums(RunTopics topics, KafkaClientConfig clients) {
    await().atMost(WAIT).until(() -> sums(topics, clients).size() == PLAN.chunkCount());
  }

  /** The committed sums by chunk; fails if a chunk was emitted twice or lacks a worker. */
  private static Map<Integer, String> sums(RunTopics topics, KafkaClientConfig clients) {
    Map<Integer, String> sums = new TreeMap<>();
    AvroSerde<ReducedChunk> serde = AvroSerde.of(ReducedChunk.class);
    RoundLog log = new RoundLog(topics, clients, WAIT);
    for (int p = 0; p < PARTITIONS; p++) {
      log.readToEnd(new TopicPartition(topics.reduced(), p), 0, r -> {
        ReducedChunk c = serde.decode(r.value());
        assertThat(c.getContributors()).extracting(x -> x.getWorkerId())
            .containsExactlyElementsOf(WORKERS);
        ByteBuffer sum = c.getSum();
        byte[] bytes = new byte[sum.remaining()];
        sum.duplicate().get(bytes);
        assertThat(sums.put(c.getChunkIndex(), HexFormat.of().formatHex(bytes)))
            .as("chunk %d emitted once", c.getChunkIndex()).isNull();
        return true;
      });
    }
    return sums;
  }

  private static KafkaProducer<byte[], byte[]> producer(KafkaClientConfig clients) {
    return new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer());
  }

  private Process startProcess(String run, Path stateDir) throws Exception {
    Files.createDirectories(stateDir);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder builder = new ProcessBuilder(java, "-Xmx512m",
        "-Dlogback.configurationFile=" + System.getProperty("logback.configurationFile", ""),
        "-cp", System.getProperty("java.class.path"), ReducerProcess.class.getName(),
        KAFKA.bootstrapServers(), run, stateDir.toString(), Integer.toString(PARTITIONS));
    File log = dir.resolve(run + "-" + stateDir.getFileName() + ".log").toFile();
    builder.redirectErrorStream(true).redirectOutput(log);
    Process process = builder.start();
    await().atMost(WAIT).until(() -> !process.isAlive()
        || Files.readString(log.toPath()).contains("RUNNING"));
    assertThat(process.isAlive()).as("the reducer process started; its log:%n%s",
        Files.readString(log.toPath())).isTrue();
    return process;
  }
}
