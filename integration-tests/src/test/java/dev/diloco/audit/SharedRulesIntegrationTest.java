package dev.diloco.audit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.audit.TopicReader.Location;
import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.codec.PseudoGradientRecords;
import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.rules.NormBound;
import dev.diloco.core.rules.Verdict;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.optimizer.OptimizerLoop;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.reducer.ReducerTopology;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.SumEncoding;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WorkerHeartbeat;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * One table of bad inputs, each applied both to a pseudo-gradient chunk and to a reducer's sum,
 * run against the three that judge them: the reducer (its real topology, on Kafka Streams' test
 * driver) and the outer optimizer (the real service, on an embedded broker) must each send the
 * input to the dead-letter topic with the table's reason, and the replay must reject it with the
 * same reason and the same words. They can agree only because one piece of code decides.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SharedRulesIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  private static final String RUN = "rules";
  private static final RunTopics TOPICS = new RunTopics(RUN);
  private static final ParameterLayout LAYOUT = ParameterLayout.builder().add("w", 5, 6).build();
  private static final int CHUNK = 8; // 30 elements: chunks of 8, 8, 8, 6
  private static final ChunkPlan PLAN = LAYOUT.chunks(CHUNK);
  private static final List<String> WORKERS = List.of("w0", "w1", "w2");
  /** The chunk every case spoils: chunk 1 of round 0. */
  private static final int INDEX = 1;
  private static final AvroSerde<PseudoGradientChunk> CHUNKS =
      AvroSerde.of(PseudoGradientChunk.class);
  private static final AvroSerde<ReducedChunk> SUMS = AvroSerde.of(ReducedChunk.class);
  private static final AvroSerde<DeadLetter> LETTERS = AvroSerde.of(DeadLetter.class);

  /** A bad input: its defect as a chunk of w0 and as a sum, and the reason all three give. */
  private record Case(String what, DeadLetterReason reason, byte[] chunk, byte[] sum) {}

  private static List<Case> table() {
    return List.of(
        new Case("of another run", DeadLetterReason.RUN_MISMATCH,
            chunkWith(c -> c.put("runId", "other")), sumWith(s -> s.put("runId", "other"))),
        new Case("of a round far from open", DeadLetterReason.ROUND_NOT_OPEN,
            chunkWith(c -> c.put("round", 5)), sumWith(s -> s.put("round", 5))),
        new Case("of a vector with another number of chunks", DeadLetterReason.LAYOUT_MISMATCH,
            chunkWith(c -> c.put("chunkCount", 5)), sumWith(s -> s.put("chunkCount", 5))),
        new Case("of an index outside the vector", DeadLetterReason.INDEX_OUT_OF_RANGE,
            chunkWith(c -> c.put("chunkIndex", 9)), sumWith(s -> s.put("chunkIndex", 9))),
        new Case("covering other elements than its index's", DeadLetterReason.WRONG_LENGTH,
            chunkWith(c -> c.put("elementCount", 7)), sumWith(s -> s.put("elementCount", 7))),
        new Case("whose CRC32C does not match", DeadLetterReason.CRC_MISMATCH,
            chunkWith(c -> c.put("crc32c", c.getCrc32c() ^ 1)),
            sumWith(s -> s.put("crc32c", s.getCrc32c() ^ 1))),
        new Case("too short, with a CRC32C that matches", DeadLetterReason.WRONG_LENGTH,
            chunkWith(c -> payload(c, new byte[10])), sumWith(s -> sumBytes(s, new byte[8]))),
        new Case("holding a NaN, with a CRC32C that matches", DeadLetterReason.NON_FINITE,
            chunkWith(c -> payload(c, fp16WithNaN())),
            sumWith(s -> {
              s.put("sumEncoding", SumEncoding.FP64);
              sumBytes(s, fp64WithNaN());
            })),
        new Case("in an encoding this build does not know", DeadLetterReason.UNKNOWN_ENCODING,
            chunkWith(c -> c.put("encoding", TensorEncoding.UNKNOWN)),
            sumWith(s -> s.put("sumEncoding", SumEncoding.UNKNOWN))),
        new Case("that is no record at all", DeadLetterReason.MALFORMED_RECORD,
            new byte[] {9, 9, 9}, new byte[] {9, 9, 9}),
        new Case("sent a second time", DeadLetterReason.DUPLICATE,
            CHUNKS.encode(goodChunk("w0")), SUMS.encode(goodSum())));
  }

  @Test
  void theReducerTheOptimizerAndTheReplayRejectTheSameInputsWithTheSameReasons(
      @TempDir Path stateDir) throws Exception {
    List<Case> table = table();
    Map<String, Verdict.Reject<?>> replayedChunks = replayChunks(table);
    Map<String, Verdict.Reject<?>> replayedSums = replaySums(table);
    Map<String, DeadLetter> reducer = reduce(table, stateDir);
    Map<String, DeadLetter> optimizer = optimize(table);

    for (Case c : table) {
      assertThat(reducer.get(c.what()).getReason()).as("reducer: a chunk %s", c.what())
          .isEqualTo(c.reason());
      assertThat(replayedChunks.get(c.what()).reason()).as("replay: a chunk %s", c.what())
          .isEqualTo(c.reason());
      assertThat(replayedChunks.get(c.what()).message()).as("replay: a chunk %s", c.what())
          .isEqualTo(reducer.get(c.what()).getDetail());
      assertThat(optimizer.get(c.what()).getReason()).as("optimizer: a sum %s", c.what())
          .isEqualTo(c.reason());
      assertThat(replayedSums.get(c.what()).reason()).as("replay: a sum %s", c.what())
          .isEqualTo(c.reason());
      assertThat(replayedSums.get(c.what()).message()).as("replay: a sum %s", c.what())
          .isEqualTo(optimizer.get(c.what()).getDetail());
    }
  }

  // ---- the three judges --------------------------------------------------------------------

  /** The reducer's dead letter for each case's chunk, on the real topology. */
  private static Map<String, DeadLetter> reduce(List<Case> table, Path stateDir) {
    ReducerConfig config = new ReducerConfig(RUN, 1,
        ReducerConfig.DEFAULT_CHECK_EVERY, 1);
    KafkaClientConfig nowhere = KafkaClientConfig.of("127.0.0.1:1"); // nothing is re-read
    Map<String, DeadLetter> letters = new java.util.LinkedHashMap<>();
    try (TopologyTestDriver driver = new TopologyTestDriver(ReducerTopology.build(config, nowhere,
        new SimpleMeterRegistry()), ReducerTopology.streamsConfig(config, nowhere,
        stateDir.toString()), Instant.parse("2026-01-01T00:00:00Z"))) {
      ByteArraySerializer s = new ByteArraySerializer();
      driver.createInputTopic(TOPICS.model(), s, s).pipeInput(RUN.getBytes(),
          AvroSerde.of(ModelDescription.class).encode(TestRuns.description(RUN, LAYOUT, CHUNK)));
      driver.createInputTopic(TOPICS.commits(), s, s).pipeInput(RUN.getBytes(),
          AvroSerde.of(RoundCommit.class).encode(TestRuns.commit(RUN, 0, PLAN, 0L)));
      TestInputTopic<byte[], byte[]> membership = driver.createInputTopic(TOPICS.membership(),
          s, s);
      for (String w : WORKERS) {
        membership.pipeInput(w.getBytes(), AvroSerde.of(WorkerHeartbeat.class).encode(
            TestRuns.heartbeat(RUN, w, 0, HeartbeatKind.JOIN)));
      }
      TestInputTopic<byte[], byte[]> chunks = driver.createInputTopic(TOPICS.pseudoGradients(),
          s, s);
      TestOutputTopic<byte[], byte[]> deadLetters = driver.createOutputTopic(
          TOPICS.deadLetters(), new ByteArrayDeserializer(), new ByteArrayDeserializer());
      for (Case c : table) {
        if (c.reason() == DeadLetterReason.DUPLICATE) {
          chunks.pipeInput(RunTopics.chunkKey(INDEX), c.chunk()); // the first one counts
        }
        chunks.pipeInput(RunTopics.chunkKey(INDEX), c.chunk());
        List<byte[]> out = deadLetters.readValuesToList();
        assertThat(out).as("the reducer's dead letters for a chunk %s", c.what()).hasSize(1);
        letters.put(c.what(), LETTERS.decode(out.get(0)));
      }
    }
    return letters;
  }

  /** The optimizer's dead letter for each case's sum, from the real service on a broker. */
  private static Map<String, DeadLetter> optimize(List<Case> table) throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    Topics.create(clients, TOPICS.newTopics(1, (short) 1, clients));
    try (OuterOptimizer optimizer = new OuterOptimizer(RUN, clients, WarmupCosine.CONSTANT, null)) {
      optimizer.open(TestRuns.description(RUN, LAYOUT, CHUNK), new float[30]);
      try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
          new ByteArraySerializer())) {
        for (Case c : table) {
          if (c.reason() == DeadLetterReason.DUPLICATE) {
            send(producer, c.sum()); // the first one is applied
          }
          send(producer, c.sum());
        }
        for (int i = 0; i < PLAN.chunkCount(); i++) {
          if (i != INDEX) {
            send(producer, SUMS.encode(sum(i))); // the round completes, with its dead letters
          }
        }
      }
      OptimizerLoop.runUntil(optimizer, 1, Duration.ofSeconds(60));
    }
    List<DeadLetter> letters = new ArrayList<>();
    new RoundLog(TOPICS, clients, Duration.ofSeconds(60)).readToEnd(
        new TopicPartition(TOPICS.deadLetters(), 0), 0,
        r -> letters.add(LETTERS.decode(r.value())));
    assertThat(letters).as("the optimizer's dead letters").hasSize(table.size());
    Map<String, DeadLetter> byCase = new java.util.LinkedHashMap<>();
    for (int i = 0; i < table.size(); i++) {
      byCase.put(table.get(i).what(), letters.get(i));
    }
    return byCase;
  }

  private static void send(KafkaProducer<byte[], byte[]> producer, byte[] value)
      throws Exception {
    producer.send(new ProducerRecord<>(TOPICS.reduced(), 0, RunTopics.chunkKey(INDEX), value))
        .get(30, TimeUnit.SECONDS);
  }

  /** The replay's verdict on each case's chunk, as it recomputes round 0's sums. */
  private static Map<String, Verdict.Reject<?>> replayChunks(List<Case> table) {
    Map<String, Verdict.Reject<?>> verdicts = new java.util.LinkedHashMap<>();
    long offset = 0;
    for (Case c : table) {
      try (ReplayedReduction reduction = new ReplayedReduction(TOPICS, 0, PLAN,
          TensorCodec.FP16, 1, Map.of(INDEX, Set.copyOf(WORKERS)), Map.of())) {
        Location at = new Location(TOPICS.pseudoGradients(), 0, offset++, c.chunk().length);
        if (c.reason() == DeadLetterReason.DUPLICATE) {
          assertThat(reduction.add(at, c.chunk()).accepted()).isTrue();
        }
        verdicts.put(c.what(), (Verdict.Reject<?>) reduction.add(at, c.chunk()));
      }
    }
    return verdicts;
  }

  /** The replay's verdict on each case's sum, as it takes the sums the optimizer applied. */
  private static Map<String, Verdict.Reject<?>> replaySums(List<Case> table) {
    Map<String, Verdict.Reject<?>> verdicts = new java.util.LinkedHashMap<>();
    long offset = 0;
    RecordedSums sums = new RecordedSums(RUN, PLAN,
        NormBound.of(TestRuns.description(RUN, LAYOUT, CHUNK)), 0); // as the optimizer's
    for (Case c : table) {
      Location at = new Location(TOPICS.reduced(), 0, offset++, c.sum().length);
      if (c.reason() == DeadLetterReason.DUPLICATE) {
        assertThat(sums.add(at, c.sum()).accepted()).isTrue();
      }
      verdicts.put(c.what(), (Verdict.Reject<?>) sums.add(at, c.sum()));
    }
    return verdicts;
  }

  // ---- good records and their defects ------------------------------------------------------

  private static float[] delta(String worker) {
    Random random = new Random(worker.hashCode());
    float[] d = new float[30];
    for (int i = 0; i < d.length; i++) {
      d[i] = (float) (random.nextGaussian() * 1e-2);
    }
    return d;
  }

  private static PseudoGradientChunk goodChunk(String worker) {
    try (var records = new PseudoGradientRecords(RUN, worker, PLAN, PayloadFormat.FP16)) {
      return records.chunk(0, INDEX, delta(worker), new PseudoGradientRecords.Stats(10, 320, 3f));
    }
  }

  private static byte[] chunkWith(Consumer<PseudoGradientChunk> defect) {
    PseudoGradientChunk bad = goodChunk("w0");
    defect.accept(bad);
    return CHUNKS.encode(bad);
  }

  private static void payload(PseudoGradientChunk c, byte[] bytes) {
    c.put("payload", ByteBuffer.wrap(bytes));
    c.put("crc32c", Checksums.crc32c(bytes, 0, bytes.length));
  }

  private static byte[] fp16WithNaN() {
    float[] values = new float[CHUNK];
    values[3] = Float.NaN;
    byte[] bytes = new byte[2 * CHUNK];
    TensorCodec.FP16.encode(values, 0, CHUNK, bytes, 0);
    return bytes;
  }

  /** The exact sum of chunk {@code index} over the three workers, as the reducer writes it. */
  private static ReducedChunk sum(int index) {
    ChunkRange range = PLAN.range(index);
    ExactSum sum = ExactSum.create(TensorCodec.FP16, range.count());
    List<Contribution> contributors = new ArrayList<>();
    for (String w : WORKERS) {
      byte[] fp16 = new byte[2 * range.count()];
      TensorCodec.FP16.encode(delta(w), (int) range.offset(), range.count(), fp16, 0);
      sum.add(w, ByteBuffer.wrap(fp16));
      contributors.add(new Contribution(w, 320L, 10, 3f));
    }
    byte[] bytes = new byte[sum.maxSumBytes()];
    bytes = java.util.Arrays.copyOf(bytes, sum.writeSum(bytes, 0));
    return ReducedChunk.newBuilder()
        .setRunId(RUN).setRound(0).setChunkIndex(index).setChunkCount(PLAN.chunkCount())
        .setElementOffset(range.offset()).setElementCount(range.count())
        .setContributors(contributors).setSumEncoding(sum.sumEncoding())
        .setSum(ByteBuffer.wrap(bytes)).setCrc32c(Checksums.crc32c(bytes, 0, bytes.length))
        .setComplete(true).setEmittedAtMs(0)
        .build();
  }

  private static ReducedChunk goodSum() {
    return sum(INDEX);
  }

  private static byte[] sumWith(Consumer<ReducedChunk> defect) {
    ReducedChunk bad = goodSum();
    defect.accept(bad);
    return SUMS.encode(bad);
  }

  private static void sumBytes(ReducedChunk s, byte[] bytes) {
    s.put("sum", ByteBuffer.wrap(bytes));
    s.put("crc32c", Checksums.crc32c(bytes, 0, bytes.length));
  }

  private static byte[] fp64WithNaN() {
    ByteBuffer values = ByteBuffer.allocate(8 * CHUNK).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < CHUNK; i++) {
      values.putDouble(i == 3 ? Double.NaN : 0.5);
    }
    return values.array();
  }
}
