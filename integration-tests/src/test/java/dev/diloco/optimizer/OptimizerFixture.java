package dev.diloco.optimizer;

import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.ReducedChunk;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** A run's topics on the test broker, a small model, and the reducer's part played by hand. */
final class OptimizerFixture {

  static final ParameterLayout LAYOUT = ParameterLayout.builder()
      .add("w", 10, 7).add("b", 7).build(); // 77 elements
  static final int CHUNK = 16; // 5 chunks, the last of 13
  static final ChunkPlan PLAN = LAYOUT.chunks(CHUNK);
  static final List<String> WORKERS = List.of("w0", "w1", "w2");

  final RunTopics topics;
  final KafkaClientConfig clients;
  private final AvroSerde<ReducedChunk> serde = AvroSerde.of(ReducedChunk.class);

  OptimizerFixture(EmbeddedKafkaExtension kafka, String runId) throws Exception {
    this.topics = new RunTopics(runId);
    this.clients = kafka.clients();
    Topics.create(clients, topics.newTopics(2, (short) 1, clients));
  }

  static ModelDescription description(String runId) {
    return TestRuns.description(runId, LAYOUT, CHUNK);
  }

  static float[] initialWeights() {
    Random random = new Random(11);
    float[] w = new float[(int) PLAN.totalElements()];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (random.nextGaussian() * 0.02);
    }
    return w;
  }

  /** The exact sum of chunk {@code index} of {@code round}: the same for every run. */
  ReducedChunk sum(int round, int index) {
    ChunkRange range = PLAN.range(index);
    ExactSum sum = ExactSum.create(TensorCodec.FP16, range.count());
    Random random = new Random(round * 1000L + index);
    List<Contribution> contributors = new ArrayList<>();
    for (String worker : WORKERS) {
      float[] delta = new float[range.count()];
      for (int i = 0; i < delta.length; i++) {
        delta[i] = (float) (random.nextGaussian() * 1e-2);
      }
      byte[] fp16 = new byte[2 * delta.length];
      TensorCodec.FP16.encode(delta, 0, delta.length, fp16, 0);
      sum.add(worker, ByteBuffer.wrap(fp16));
      contributors.add(new Contribution(worker, 1000L, 10, 2.5f));
    }
    byte[] bytes = new byte[sum.maxSumBytes()];
    bytes = java.util.Arrays.copyOf(bytes, sum.writeSum(bytes, 0));
    return ReducedChunk.newBuilder()
        .setRunId(topics.runId()).setRound(round).setChunkIndex(index)
        .setChunkCount(PLAN.chunkCount()).setElementOffset(range.offset())
        .setElementCount(range.count()).setContributors(contributors)
        .setSumEncoding(sum.sumEncoding()).setSum(ByteBuffer.wrap(bytes))
        .setCrc32c(Checksums.crc32c(bytes, 0, bytes.length)).setComplete(true).setEmittedAtMs(0)
        .build();
  }

  /** Publishes every chunk's sum of {@code round}, as the reducer would. */
  void reduce(int round) throws Exception {
    List<byte[]> values = new ArrayList<>();
    for (int i = 0; i < PLAN.chunkCount(); i++) {
      values.add(serde.encode(sum(round, i)));
    }
    sendRaw(topics.reduced(), values);
  }

  /** Sends to partition 0, so the optimizer reads them in this order. */
  void sendRaw(String topic, List<byte[]> values) throws Exception {
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      for (byte[] v : values) {
        producer.send(new ProducerRecord<>(topic, 0, null, v)).get(30, TimeUnit.SECONDS);
      }
    }
  }
}
