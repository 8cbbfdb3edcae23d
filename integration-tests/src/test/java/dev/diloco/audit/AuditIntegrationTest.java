package dev.diloco.audit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.broker.EmbeddedKafkaBroker;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.optimizer.OptimizerLoop;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.reducer.Reducer;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.WeightsChunk;
import dev.diloco.schemas.WorkerHeartbeat;
import dev.diloco.worker.ChunkPublisher;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs of 3 workers and 4 rounds through the real reducer and outer optimizer on an embedded
 * broker, with a worker restart (it publishes a round twice, with other values the second time)
 * and a duplicate chunk in each; then replays them, clean and after tampering with the log.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class AuditIntegrationTest {

  private static final ParameterLayout LAYOUT = ParameterLayout.builder().add("w", 100, 50).build();
  private static final int CHUNK = 1024; // 5000 elements: 5 chunks over 2 partitions
  private static final ChunkPlan PLAN = LAYOUT.chunks(CHUNK);
  private static final int PARTITIONS = 2;
  private static final int ROUNDS = 4;
  private static final List<String> WORKERS = List.of("w0", "w1", "w2");
  private static final Duration WAIT = Duration.ofSeconds(90);

  @TempDir
  static Path dir;
  private static EmbeddedKafkaBroker broker;

  @BeforeAll
  static void startBroker() {
    broker = EmbeddedKafkaBroker.builder().logDir(dir.resolve("kafka")).start();
  }

  @AfterAll
  static void stopBroker() {
    if (broker != null) {
      broker.close();
    }
  }

  @Test
  void aRunWithARestartAndADuplicateReplaysBitForBitAndInspectCountsItsDeadLetters()
      throws Exception {
    RunTopics topics = train("clean");
    Replay.Report report = replay(topics, 0, -1);

    assertThat(report.rounds()).hasSize(ROUNDS + 1);
    assertThat(report.rounds()).allSatisfy(r -> assertThat(r.findings()).isEmpty());
    assertThat(report.ok()).isTrue();
    assertThat(report.rounds().get(2).contributors()).containsExactlyElementsOf(WORKERS);
    assertThat(report.rounds().get(2).tokens()).isEqualTo(3 * 320L);

    Inspection inspection = inspect(topics);
    assertThat(inspection.rounds()).extracting(Inspection.Row::outcome)
        .containsExactly("INITIAL", "STEPPED", "STEPPED", "STEPPED", "STEPPED");
    // Round 1's restart re-sent 5 chunks, round 2 one chunk twice: the reducer refused each.
    assertThat(inspection.rounds().get(2).deadLetters()).isEqualTo(Map.of("DUPLICATE", 5));
    assertThat(inspection.rounds().get(3).deadLetters()).isEqualTo(Map.of("DUPLICATE", 1));
    assertThat(inspection.totals().deadLetters()).isEqualTo(Map.of("DUPLICATE", 6));
    assertThat(inspection.rounds().get(2).pseudoGradientChunks()).isEqualTo(4 * PLAN.chunkCount());
    assertThat(inspection.table()).contains("DUPLICATE:5");

    // A range alone, from the published weights of the round before it.
    Replay.Report range = replay(topics, 3, 4);
    assertThat(range.rounds()).extracting(Replay.RoundResult::round).containsExactly(3, 4);
    assertThat(range.ok()).isTrue();
    // A range past the run is refused at once, not replayed as a million empty rounds.
    assertThatThrownBy(() -> replay(topics, 0, 999_999))
        .hasMessage("rounds 0 to 999999 are not a range of run clean, whose newest committed "
            + "round is 4");
  }

  /**
   * A well-formed sum of round 2 written while round 1 is open: the optimizer refuses it
   * (ROUND_NOT_OPEN) and goes on; the replay takes the sums the optimizer could take, so every
   * round still verifies (an outside probe had it take that sum as round 2's, and report honest
   * rounds as wrong).
   */
  @Test
  void aSumTheOptimizerRefusedBeforeItsRoundOpenedIsNoneOfTheRoundsInTheReplay()
      throws Exception {
    RunTopics topics = train("premature", true);
    Replay.Report report = replay(topics, 0, -1);
    assertThat(report.ok()).as(report.firstFinding().map(Object::toString).orElse("")).isTrue();
    assertThat(report.rounds().get(3).contributors()).containsExactlyElementsOf(WORKERS);
    assertThat(inspect(topics).totals().deadLetters()).containsEntry("ROUND_NOT_OPEN", 1);
  }

  @Test
  void aForgedWeightsChunkAndAForgedCommitAreNamed() throws Exception {
    RunTopics topics = train("forged");
    KafkaClientConfig clients = KafkaClientConfig.of(broker.bootstrapServers());
    RoundLog log = new RoundLog(topics, clients, WAIT);
    float[] round2 = log.weights(log.commit(2).orElseThrow(), PLAN);
    round2[1024 + 7] += 0.25f; // chunk 1, element 7
    try (var producer = producer(clients);
        var encoder = new ChunkEncoder(PayloadFormat.FP32, CHUNK)) {
      ChunkEncoder.Encoded forged = encoder.encode(round2, 1024, 1024);
      producer.send(new ProducerRecord<>(topics.weights(), AvroSerde.of(WeightsChunk.class)
          .encode(new WeightsChunk(topics.runId(), 2, 1, PLAN.chunkCount(), 1024L, 1024,
              PayloadFormat.FP32.encoding(), forged.payload(), forged.crc32c())))).get();
      RoundCommit commit3 = RoundCommit.newBuilder(log.commit(3).orElseThrow())
          .setWeightsSha256(ByteBuffer.wrap(Checksums.sha256(round2))).build();
      producer.send(new ProducerRecord<>(topics.commits(), AvroSerde.of(RoundCommit.class)
          .encode(commit3))).get();
    }

    Replay.Report report = replay(topics, 0, -1);

    assertThat(report.ok()).isFalse();
    assertThat(report.rounds()).extracting(Replay.RoundResult::ok)
        .containsExactly(true, true, false, false, true);
    Replay.Finding first = report.firstFinding().orElseThrow();
    assertThat(first.round()).isEqualTo(2);
    assertThat(first.chunk()).isEqualTo(1);
    assertThat(first.detail()).contains("differs from the replayed weights at 1 of 1024 elements")
        .contains("element 7");
    assertThat(report.rounds().get(3).findings()).singleElement()
        .satisfies(f -> assertThat(f.detail()).contains("a second commit of the round"));
  }

  @Test
  void aPseudoGradientChunkAlteredOnDiskAfterItWasSummedIsNamedWithItsWorker() throws Exception {
    RunTopics topics = train("altered");
    // Worker w2's chunk 3 of round 1: every element negated, its CRC32C made to match, and the
    // Kafka batch's CRC too, as someone with the broker's disks could do.
    Tampered tampered = findChunk(topics, 1, 3, "w2");
    broker.close();
    try {
      alterOnDisk(dir.resolve("kafka"), topics.pseudoGradients(), tampered);
    } finally {
      broker = EmbeddedKafkaBroker.builder().logDir(dir.resolve("kafka")).start();
    }

    Replay.Report report = replay(topics, 0, -1);

    assertThat(report.rounds()).extracting(Replay.RoundResult::ok)
        .containsExactly(true, true, false, true, true); // commit 2 summed round 1's chunks
    Replay.Finding first = report.firstFinding().orElseThrow();
    assertThat(first.round()).isEqualTo(2);
    assertThat(first.chunk()).isEqualTo(3);
    assertThat(first.detail()).contains("differs from the reducer's at")
        .contains("worker w2's chunk at partition " + topics.partitionOf(3, PARTITIONS)
            + ", offset " + tampered.offset + " explains it");
  }

  // --- a run -------------------------------------------------------------------------------

  /** 4 rounds of 3 workers; w1 restarts in round 1, and one chunk of w0 is sent twice in 2. */
  private static RunTopics train(String run) throws Exception {
    return train(run, false);
  }

  /**
   * As above; {@code premature}: while round 1 is open, a well-formed sum of round 2, chunk 0,
   * naming another worker, is written to the sums topic before the reducer's.
   */
  private static RunTopics train(String run, boolean premature) throws Exception {
    KafkaClientConfig clients = KafkaClientConfig.of(broker.bootstrapServers());
    RunTopics topics = new RunTopics(run);
    Topics.create(clients, topics.newTopics(PARTITIONS, (short) 1, clients));
    float[] initial = gaussian(new Random(run.hashCode()), 1f);
    try (Reducer reducer = new Reducer(new ReducerConfig(run, 1,
            Duration.ofSeconds(1), PARTITIONS), clients, dir.resolve("state-" + run),
            new SimpleMeterRegistry(), Map.of());
        OuterOptimizer optimizer = new OuterOptimizer(run, clients, WarmupCosine.CONSTANT, null);
        var producer = producer(clients)) {
      optimizer.open(TestRuns.description(run, LAYOUT, CHUNK), initial);
      // Every round's members before the reducer starts: its global stores load them first,
      // so no chunk has to wait for its worker's heartbeat to reach the reducer.
      for (int round = 0; round < ROUNDS; round++) {
        for (String w : WORKERS) {
          producer.send(new ProducerRecord<>(topics.membership(),
              w.getBytes(StandardCharsets.UTF_8), AvroSerde.of(WorkerHeartbeat.class).encode(
                  TestRuns.heartbeat(run, w, round, HeartbeatKind.ALIVE)))).get();
        }
      }
      reducer.start(WAIT);
      for (int round = 0; round < ROUNDS; round++) {
        if (round == 1) {
          publish(topics, clients, "w1", round, 100); // dies after publishing, restarts:
          if (premature) {
            producer.send(new ProducerRecord<>(topics.reduced(), 0, RunTopics.chunkKey(0),
                AvroSerde.of(ReducedChunk.class).encode(sumOfRound2(run)))).get();
          }
        }
        for (String w : WORKERS) {
          publish(topics, clients, w, round, 0);
          if (round == 2 && w.equals("w0")) {
            resend(topics, clients, producer, round, 2, w); // while chunk 2's sum is open
          }
        }
        OptimizerLoop.runUntil(optimizer, round + 1, WAIT);
      }
    }
    return topics;
  }

  /** A sum of round 2, chunk 0, as the reducer writes one, of a worker "mallory". */
  private static ReducedChunk sumOfRound2(String run) {
    java.nio.ByteBuffer values = java.nio.ByteBuffer.allocate(8 * CHUNK)
        .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < CHUNK; i++) {
      values.putDouble(0.001);
    }
    values.flip();
    return ReducedChunk.newBuilder().setRunId(run).setRound(2).setChunkIndex(0)
        .setChunkCount(PLAN.chunkCount()).setElementOffset(0).setElementCount(CHUNK)
        .setContributors(List.of(new dev.diloco.schemas.Contribution("mallory", 1L, 1, 1f)))
        .setSumEncoding(dev.diloco.schemas.SumEncoding.FP64).setSum(values)
        .setCrc32c(dev.diloco.core.codec.Checksums.crc32c(values.duplicate()))
        .setComplete(true).setEmittedAtMs(0).build();
  }

  private static void publish(RunTopics topics, KafkaClientConfig clients, String worker,
      int round, int variant) {
    Random random = new Random(31L * round + worker.hashCode() + variant);
    try (ChunkPublisher publisher = new ChunkPublisher(topics, worker, PLAN, PayloadFormat.FP16,
        PARTITIONS, clients)) {
      publisher.publish(round, gaussian(random, 1e-2f), 10, 320, 3f);
    }
  }

  /** Sends a copy of a published chunk, as a producer retrying without idempotence would. */
  private static void resend(RunTopics topics, KafkaClientConfig clients,
      KafkaProducer<byte[], byte[]> producer, int round, int chunk, String worker)
      throws Exception {
    Tampered found = findChunk(topics, round, chunk, worker);
    producer.send(new ProducerRecord<>(topics.pseudoGradients(), found.partition,
        RunTopics.chunkKey(chunk), found.value)).get();
  }

  private static float[] gaussian(Random random, float scale) {
    float[] v = new float[(int) PLAN.totalElements()];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) random.nextGaussian() * scale;
    }
    return v;
  }

  private static Replay.Report replay(RunTopics topics, int from, int to) {
    try (TopicReader reader = new TopicReader(KafkaClientConfig.of(broker.bootstrapServers()),
        WAIT)) {
      return Replay.replay(RunRecords.read(topics, reader), reader, from, to, r -> {});
    }
  }

  private static Inspection inspect(RunTopics topics) {
    try (TopicReader reader = new TopicReader(KafkaClientConfig.of(broker.bootstrapServers()),
        WAIT)) {
      return Inspection.of(RunRecords.read(topics, reader));
    }
  }

  private static KafkaProducer<byte[], byte[]> producer(KafkaClientConfig clients) {
    return new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer());
  }

  // --- tampering with a log segment -----------------------------------------------------------

  private record Tampered(int partition, long offset, byte[] value) {}

  /** The first record of a worker's chunk of a round, as it lies in the log. */
  private static Tampered findChunk(RunTopics topics, int round, int chunk, String worker) {
    AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
    int partition = topics.partitionOf(chunk, PARTITIONS);
    List<Tampered> found = new ArrayList<>();
    new RoundLog(topics, KafkaClientConfig.of(broker.bootstrapServers()), WAIT).readToEnd(
        new TopicPartition(topics.pseudoGradients(), partition), 0, r -> {
          PseudoGradientChunk c = serde.decode(r.value());
          if (c.getRound() == round && c.getChunkIndex() == chunk
              && c.getWorkerId().equals(worker)) {
            found.add(new Tampered(partition, r.offset(), r.value()));
            return false;
          }
          return true;
        });
    return found.get(0);
  }

  /**
   * Rewrites the record's value in its segment file: the FP16 elements negated from element
   * {@code k} on, for the first k that keeps the record's length (its CRC32C is a varint), with
   * the chunk's CRC32C and the Kafka batch's CRC recomputed so both still check out.
   */
  private static void alterOnDisk(Path kafkaDir, String topic, Tampered record)
      throws IOException {
    AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
    PseudoGradientChunk original = serde.decode(record.value);
    byte[] altered = null;
    for (int k = 0; altered == null; k++) {
      byte[] payload = new byte[original.getPayload().remaining()];
      original.getPayload().duplicate().get(payload);
      for (int i = 2 * k + 1; i < payload.length; i += 2) {
        payload[i] ^= (byte) 0x80; // the sign bit of each little-endian half
      }
      PseudoGradientChunk changed = PseudoGradientChunk.newBuilder(original)
          .setPayload(ByteBuffer.wrap(payload))
          .setCrc32c(Checksums.crc32c(payload, 0, payload.length)).build();
      byte[] bytes = serde.encode(changed);
      if (bytes.length == record.value.length) {
        altered = bytes;
      }
    }
    Path segment;
    try (var files = Files.list(kafkaDir.resolve("kafka-logs").resolve(topic + "-"
        + record.partition))) {
      segment = files.filter(f -> f.toString().endsWith(".log")).findFirst().orElseThrow();
    }
    byte[] log = Files.readAllBytes(segment);
    int at = indexOf(log, record.value);
    assertThat(at).as("the record's value in %s", segment).isGreaterThanOrEqualTo(0);
    System.arraycopy(altered, 0, log, at, altered.length);
    // Record batches: base offset (8), length (4), leader epoch (4), magic (1), CRC (4), then
    // the CRC32C-covered rest from the attributes on.
    ByteBuffer buffer = ByteBuffer.wrap(log).order(ByteOrder.BIG_ENDIAN);
    int batch = 0;
    while (batch + 12 + buffer.getInt(batch + 8) <= at) {
      batch += 12 + buffer.getInt(batch + 8);
    }
    int end = batch + 12 + buffer.getInt(batch + 8);
    CRC32C crc = new CRC32C();
    crc.update(log, batch + 21, end - batch - 21);
    buffer.putInt(batch + 17, (int) crc.getValue());
    try (FileChannel channel = FileChannel.open(segment, StandardOpenOption.WRITE)) {
      channel.write(ByteBuffer.wrap(log, batch, end - batch), batch);
    }
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}
