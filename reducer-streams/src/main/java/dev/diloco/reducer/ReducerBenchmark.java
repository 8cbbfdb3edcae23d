package dev.diloco.reducer;

import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.InnerOptimizerConfig;
import dev.diloco.schemas.ModelArchitecture;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OuterMethod;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WorkerHeartbeat;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Feeds N simulated workers' FP16 pseudo-gradients of P parameters through the reducer on a
 * broker, and measures beside it the raw produce and consume rates of the same bytes on the
 * same broker in the same run: the reducer's speed as a fraction of what Kafka itself moves.
 *
 * <p>The phases, after an untimed pass that warms up the JIT, the broker and the page cache:
 * (1) produce the chunk records to a plain topic, timed, the median of three passes: the raw
 * produce rate; (2) consume them back with a plain consumer, the median of four passes: the raw
 * consume rate; (3) with the reducer
 * (exactly-once) started and paused, produce the same records to the run's topic, then resume
 * it and time until the last sum is committed: the reducer's own input rate; (4) the same for a
 * second round with the reducer running while the records are produced, from the first send to
 * the last sum: the rate of producing and reducing together, as a run sees it.
 */
public final class ReducerBenchmark {

  /** What to run. */
  public record Settings(int workers, int parameters, int chunkElements, int partitions) {
    public Settings {
      if (workers < 1 || parameters < 1 || chunkElements < 1 || partitions < 1) {
        throw new IllegalArgumentException("workers, parameters, chunk elements and partitions "
            + "must all be >= 1, got " + workers + ", " + parameters + ", " + chunkElements
            + ", " + partitions);
      }
    }
  }

  /** What it measured, in bytes and seconds. */
  public record Result(long inputBytes, long outputBytes, int inputRecords, int sums,
      double produceSeconds, double consumeSeconds, double reduceSeconds,
      double pipelineSeconds) {

    public double produceMBps() {
      return inputBytes / produceSeconds / 1e6;
    }

    public double consumeMBps() {
      return inputBytes / consumeSeconds / 1e6;
    }

    public double reduceMBps() {
      return inputBytes / reduceSeconds / 1e6;
    }

    public double pipelineMBps() {
      return inputBytes / pipelineSeconds / 1e6;
    }

    public void print(PrintStream out, Settings s) {
      out.printf("reducer benchmark: %d workers x %,d parameters (FP16), chunks of %,d, "
          + "%d partitions%n", s.workers(), s.parameters(), s.chunkElements(), s.partitions());
      out.printf("  input: %,d bytes in %d records; sums out: %,d bytes in %d records%n",
          inputBytes, inputRecords, outputBytes, sums);
      out.printf("  raw produce     %8.1f MB/s  (%.2f s)%n", produceMBps(), produceSeconds);
      out.printf("  raw consume     %8.1f MB/s  (%.2f s)%n", consumeMBps(), consumeSeconds);
      out.printf("  reducer input   %8.1f MB/s  (%.2f s, %.1f chunks summed/s; ratio to raw "
          + "produce %.2f, to raw consume %.2f)%n", reduceMBps(), reduceSeconds,
          inputRecords / reduceSeconds, reduceMBps() / produceMBps(), reduceMBps() / consumeMBps());
      out.printf("  produce+reduce  %8.1f MB/s  (%.2f s from the first send to the last sum; "
          + "ratio to raw produce %.2f)%n", pipelineMBps(), pipelineSeconds,
          pipelineMBps() / produceMBps());
    }
  }

  private ReducerBenchmark() {}

  /** {@code streamsOverrides}: Kafka Streams settings over the reducer's own, to compare them. */
  public static Result run(Settings s, KafkaClientConfig clients, Path stateDir,
      Map<String, ?> streamsOverrides) throws Exception {
    String runId = "bench-" + Long.toHexString(System.nanoTime());
    RunTopics topics = new RunTopics(runId);
    ParameterLayout layout = ParameterLayout.builder().add("params", s.parameters()).build();
    ChunkPlan plan = layout.chunks(s.chunkElements());
    try (Admin admin = Admin.create(clients.admin())) {
      List<NewTopic> all = new ArrayList<>(topics.newTopics(s.partitions(), (short) 1, clients));
      admin.createTopics(all).all().get(60, TimeUnit.SECONDS);
    }
    publishRound0(topics, s, layout, plan, clients);

    // (1) Raw produce of the workers' chunks, chunk-major (as workers that finish together
    // would send them), to a plain topic of the same partitions and settings.
    String raw = "diloco-bench-raw-" + runId;
    try (Admin admin = Admin.create(clients.admin())) {
      admin.createTopics(List.of(new NewTopic(raw, s.partitions(), (short) 1)
          .configs(clients.topic()))).all().get(60, TimeUnit.SECONDS);
    }
    List<ProducerRecord<byte[], byte[]>> records = chunkRecords(topics, s, plan);
    long inputBytes = records.stream().mapToLong(r -> r.value().length).sum();
    List<ProducerRecord<byte[], byte[]>> rawRecords = records.stream()
        .map(r -> new ProducerRecord<>(raw, r.partition(), r.key(), r.value())).toList();
    produce(rawRecords, clients); // untimed: warms up the JIT, the broker and the page cache
    consumeAll(raw, s.partitions(), clients, -1);
    // The median of three: these machines are shared, and one pass can be far off.
    double[] produces = new double[3];
    for (int i = 0; i < produces.length; i++) {
      produces[i] = produce(rawRecords, clients);
    }
    double produceSeconds = median(produces);

    // (2) Raw consume of the same bytes: the topic holds them four times; each copy read is
    // timed, and the median taken.
    double[] consumes = new double[4];
    long read = 0;
    try (var consumer = new KafkaConsumer<>(clients.consumer(null), new ByteArrayDeserializer(),
        new ByteArrayDeserializer())) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int p = 0; p < s.partitions(); p++) {
        tps.add(new TopicPartition(raw, p));
      }
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      long deadline = System.nanoTime() + Duration.ofMinutes(20).toNanos();
      long passStart = System.nanoTime();
      int pass = 0;
      while (pass < consumes.length) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("reading " + raw + " took more than 20 minutes");
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          read += r.value().length;
          while (pass < consumes.length && read >= (pass + 1) * inputBytes) {
            long now = System.nanoTime();
            consumes[pass++] = (now - passStart) / 1e9;
            passStart = now;
          }
        }
      }
      read /= consumes.length;
    }
    double consumeSeconds = median(consumes);
    long t0;
    if (read != inputBytes) {
      throw new IllegalStateException("read back " + read + " bytes of " + inputBytes);
    }

    // (3) The reducer alone on records already in the topic; (4) while they are produced.
    ReducerConfig config = new ReducerConfig(runId, 1, Duration.ofHours(1), Duration.ofSeconds(1),
        s.partitions());
    long outputBytes;
    double reduceSeconds;
    double pipelineSeconds;
    try (Reducer reducer = new Reducer(config, clients, stateDir.resolve(runId),
        new SimpleMeterRegistry(), streamsOverrides)) {
      reducer.start(Duration.ofMinutes(2));
      reducer.pause();
      produce(records, clients);
      t0 = System.nanoTime();
      reducer.resume();
      outputBytes = consumeAll(topics.reduced(), s.partitions(), clients, plan.chunkCount());
      reduceSeconds = (System.nanoTime() - t0) / 1e9;

      publishCommit(topics, plan, 1, clients);
      List<ProducerRecord<byte[], byte[]>> round1 = records.stream()
          .map(r -> withRound(r, 1)).toList();
      t0 = System.nanoTime();
      Thread producing = new Thread(() -> produce(round1, clients), "bench-workers");
      producing.start();
      consumeAll(topics.reduced(), s.partitions(), clients, plan.chunkCount(), true);
      producing.join();
      pipelineSeconds = (System.nanoTime() - t0) / 1e9;
    }
    return new Result(inputBytes, outputBytes, s.workers() * plan.chunkCount(), plan.chunkCount(),
        produceSeconds, consumeSeconds, reduceSeconds, pipelineSeconds);
  }

  /** The median, of timings taken on a shared, noisy machine. */
  public static double median(double[] values) {
    double[] sorted = values.clone();
    java.util.Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  /** Sends {@code records} with an idempotent producer and waits for all; seconds taken. */
  public static double produce(List<ProducerRecord<byte[], byte[]>> records,
      KafkaClientConfig clients) {
    long t0 = System.nanoTime();
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      records.forEach(producer::send);
      producer.flush();
    }
    return (System.nanoTime() - t0) / 1e9;
  }

  private static void publishRound0(RunTopics topics, Settings s, ParameterLayout layout,
      ChunkPlan plan, KafkaClientConfig clients) throws Exception {
    byte[] key = topics.runId().getBytes(StandardCharsets.UTF_8);
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(topics.model(), key, AvroSerde.of(ModelDescription.class)
          .encode(description(topics.runId(), layout, s.chunkElements()))));
      producer.flush();
    }
    announceWorkers(topics, s.workers(), 2, clients);
    publishCommit(topics, plan, 0, clients);
  }

  /** A run of synthetic pseudo-gradients: FP16, DiLoCo's outer step, no model behind it. */
  public static ModelDescription description(String runId, ParameterLayout layout,
      int chunkElements) {
    return ModelDescription.newBuilder()
        .setRunId(runId).setFamily("synthetic")
        .setArchitecture(new ModelArchitecture(0, 0, 0, 0, 0, 0))
        .setInnerOptimizer(new InnerOptimizerConfig(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0))
        .setOuterOptimizer(new OuterOptimizerConfig(OuterMethod.NESTEROV, 0.7, 0.9,
            Averaging.COUNT))
        .setInnerSteps(0).setEncoding(TensorEncoding.FP16)
        .setCompression(Compression.NONE).setBytePlanes(false).setSeed(0)
        .setLayout(layout.toSpec(chunkElements)).setCreatedAtMs(System.currentTimeMillis())
        .build();
  }

  /**
   * Heartbeats of {@code workers} simulated workers for rounds 0 to {@code rounds - 1}: sent
   * before the reducer starts, its global store holds them before the first chunk arrives.
   */
  public static void announceWorkers(RunTopics topics, int workers, int rounds,
      KafkaClientConfig clients) {
    byte[] key = topics.runId().getBytes(StandardCharsets.UTF_8);
    AvroSerde<WorkerHeartbeat> heartbeats = AvroSerde.of(WorkerHeartbeat.class);
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      for (int round = 0; round < rounds; round++) {
        for (int w = 0; w < workers; w++) {
          producer.send(new ProducerRecord<>(topics.membership(), key, heartbeats.encode(
              new WorkerHeartbeat(topics.runId(), worker(w), HeartbeatKind.JOIN, round, 0L,
                  "bench", System.currentTimeMillis(), null, null))));
        }
      }
      producer.flush();
    }
  }

  private static void publishCommit(RunTopics topics, ChunkPlan plan, int round,
      KafkaClientConfig clients) {
    RoundCommit commit = RoundCommit.newBuilder()
        .setRunId(topics.runId()).setRound(round).setWeightsSha256(ByteBuffer.wrap(new byte[32]))
        .setTotalElements(plan.totalElements()).setChunkCount(plan.chunkCount())
        .setOutcome(round == 0 ? RoundOutcome.INITIAL : RoundOutcome.STEPPED)
        .setContributors(List.of())
        .setOuterOptimizer(new OuterOptimizerConfig(OuterMethod.NESTEROV, 0.7, 0.9,
            Averaging.COUNT))
        .setOuterLearningRate(0.0).setRoundOpenedAtMs(0).setReductionDoneAtMs(0)
        .setCommittedAtMs(System.currentTimeMillis())
        .build();
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(topics.commits(),
          topics.runId().getBytes(StandardCharsets.UTF_8),
          AvroSerde.of(RoundCommit.class).encode(commit)));
    }
  }

  /** The same chunk, of another round. */
  private static ProducerRecord<byte[], byte[]> withRound(ProducerRecord<byte[], byte[]> r,
      int round) {
    AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
    PseudoGradientChunk chunk = serde.decode(r.value());
    chunk.put("round", round);
    return new ProducerRecord<>(r.topic(), r.partition(), r.key(), serde.encode(chunk));
  }

  /** Every simulated worker's FP16 chunks of round 0, chunk-major, as workers send them. */
  public static List<ProducerRecord<byte[], byte[]>> chunkRecords(RunTopics topics, Settings s,
      ChunkPlan plan) {
    AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
    List<float[]> deltas = new ArrayList<>();
    for (int w = 0; w < s.workers(); w++) {
      Random random = new Random(w);
      float[] d = new float[s.parameters()];
      for (int i = 0; i < d.length; i++) {
        d[i] = (float) (random.nextGaussian() * 1e-3);
      }
      deltas.add(d);
    }
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    try (ChunkEncoder encoder = new ChunkEncoder(PayloadFormat.FP16, s.chunkElements())) {
      for (int i = 0; i < plan.chunkCount(); i++) {
        ChunkRange range = plan.range(i);
        for (int w = 0; w < s.workers(); w++) {
          ChunkEncoder.Encoded e = encoder.encode(deltas.get(w), (int) range.offset(),
              range.count());
          PseudoGradientChunk chunk = PseudoGradientChunk.newBuilder()
              .setRunId(topics.runId()).setRound(0).setWorkerId(worker(w)).setChunkIndex(i)
              .setChunkCount(plan.chunkCount()).setElementOffset(range.offset())
              .setElementCount(range.count()).setEncoding(TensorEncoding.FP16)
              .setCompression(Compression.NONE).setBytePlanes(false).setPayload(e.payload())
              .setCrc32c(e.crc32c()).setInnerSteps(1).setTokens(1).setMeanInnerLoss(0f)
              .setCreatedAtMs(System.currentTimeMillis())
              .build();
          records.add(new ProducerRecord<>(topics.pseudoGradients(),
              topics.partitionOf(i, s.partitions()), ByteBuffer.allocate(4).putInt(i).array(),
              serde.encode(chunk)));
        }
      }
    }
    return records;
  }

  /** Reads every partition of {@code topic} to its end (or until {@code records}); bytes read. */
  public static long consumeAll(String topic, int partitions, KafkaClientConfig clients,
      int records) {
    return consumeAll(topic, partitions, clients, records, false);
  }

  /** {@code fromEnd}: only records written after the call. */
  private static long consumeAll(String topic, int partitions, KafkaClientConfig clients,
      int records, boolean fromEnd) {
    List<TopicPartition> tps = new ArrayList<>();
    for (int p = 0; p < partitions; p++) {
      tps.add(new TopicPartition(topic, p));
    }
    long bytes = 0;
    int count = 0;
    try (var consumer = new KafkaConsumer<>(clients.consumer(null), new ByteArrayDeserializer(),
        new ByteArrayDeserializer())) {
      consumer.assign(tps);
      if (fromEnd) {
        consumer.seekToEnd(tps);
        tps.forEach(consumer::position); // resolve the end now, before anything new arrives
      } else {
        consumer.seekToBeginning(tps);
      }
      Map<TopicPartition, Long> end = consumer.endOffsets(tps);
      long deadline = System.nanoTime() + Duration.ofMinutes(20).toNanos();
      while (records >= 0 ? count < records : tps.stream()
          .anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("reading " + topic + " took more than 20 minutes");
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          bytes += r.value().length;
          count++;
        }
      }
    }
    return bytes;
  }

  public static String worker(int w) {
    return "worker-" + w;
  }
}
