package dev.diloco.bench;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.codec.PseudoGradientRecords;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.WorkerHeartbeat;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * A run with no model behind it, for the pipeline benchmarks: one flat tensor of P parameters,
 * N simulated workers whose pseudo-gradients are Gaussian noise of the size real ones have,
 * FP16, DiLoCo's outer step. Its records are the test fixtures' ({@link TestRuns}) and the
 * workers' own ({@link PseudoGradientRecords}).
 */
final class SyntheticRun {

  final RunTopics topics;
  final ParameterLayout layout;
  final ChunkPlan plan;
  final int workers;
  final int partitions;
  private final KafkaClientConfig clients;

  SyntheticRun(String prefix, int workers, int parameters, int chunkElements, int partitions,
      KafkaClientConfig clients) {
    this.topics = new RunTopics(prefix + "-" + Long.toHexString(System.nanoTime()));
    this.layout = ParameterLayout.builder().add("params", parameters).build();
    this.plan = layout.chunks(chunkElements);
    this.workers = workers;
    this.partitions = partitions;
    this.clients = clients;
  }

  static String worker(int w) {
    return "worker-" + w;
  }

  ModelDescription description() {
    return TestRuns.description(topics.runId(), layout, plan.chunkElements());
  }

  /** The run's topics, and {@code extra} plain topics of the same partitions and settings. */
  void createTopics(String... extra) {
    List<NewTopic> all = new ArrayList<>(topics.newTopics(partitions, (short) 1, clients));
    for (String raw : extra) {
      all.add(new NewTopic(raw, partitions, (short) 1).configs(clients.topic()));
    }
    Topics.create(clients, all);
  }

  /** Worker {@code w}'s pseudo-gradient: the same for every run of the benchmark. */
  float[] delta(int w) {
    return gaussian(new Random(w), Math.toIntExact(plan.totalElements()), 1e-3f);
  }

  static float[] gaussian(Random random, int n, float scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) random.nextGaussian() * scale;
    }
    return v;
  }

  /**
   * Every worker's chunk records of {@code round}, chunk-major (as workers that finish together
   * send them), to the run's pseudo-gradient topic.
   */
  List<ProducerRecord<byte[], byte[]>> chunkRecords(int round) {
    AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
    List<PseudoGradientRecords> encoders = new ArrayList<>();
    List<float[]> deltas = new ArrayList<>();
    for (int w = 0; w < workers; w++) {
      encoders.add(new PseudoGradientRecords(topics.runId(), worker(w), plan, PayloadFormat.FP16));
      deltas.add(delta(w));
    }
    var stats = new PseudoGradientRecords.Stats(1, 1, 0f);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    try {
      for (int i = 0; i < plan.chunkCount(); i++) {
        for (int w = 0; w < workers; w++) {
          records.add(new ProducerRecord<>(topics.pseudoGradients(),
              topics.partitionOf(i, partitions), RunTopics.chunkKey(i),
              serde.encode(encoders.get(w).chunk(round, i, deltas.get(w), stats))));
        }
      }
    } finally {
      encoders.forEach(PseudoGradientRecords::close);
    }
    return records;
  }

  /**
   * Heartbeats of every worker for rounds 0 to {@code rounds - 1}: sent before the reducer
   * starts, its global store holds them before the first chunk arrives.
   */
  void announceWorkers(int rounds) {
    List<ProducerRecord<byte[], byte[]>> joins = new ArrayList<>();
    AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);
    for (int round = 0; round < rounds; round++) {
      for (int w = 0; w < workers; w++) {
        joins.add(new ProducerRecord<>(topics.membership(), runKey(), serde.encode(
            TestRuns.heartbeat(topics.runId(), worker(w), round, HeartbeatKind.JOIN))));
      }
    }
    RawKafka.produce(joins, clients);
  }

  /** The model description and a commit of round 0, as an optimizer would publish them. */
  void publishRound0() {
    RawKafka.produce(List.of(new ProducerRecord<>(topics.model(), runKey(),
        AvroSerde.of(ModelDescription.class).encode(description()))), clients);
    publishCommit(0);
  }

  /** A commit of {@code round} (its weights are not read: the reducer only needs the round). */
  void publishCommit(int round) {
    RoundCommit commit = TestRuns.commit(topics.runId(), round, plan, System.currentTimeMillis());
    RawKafka.produce(List.of(new ProducerRecord<>(topics.commits(), runKey(),
        AvroSerde.of(RoundCommit.class).encode(commit))), clients);
  }

  private byte[] runKey() {
    return topics.runId().getBytes(StandardCharsets.UTF_8);
  }
}
