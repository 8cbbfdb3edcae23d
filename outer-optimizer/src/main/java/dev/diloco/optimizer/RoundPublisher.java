package dev.diloco.optimizer;

import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunAcls;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OptimizerStateChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import dev.diloco.schemas.WeightsChunk;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Publishes a round in one Kafka transaction: its weights chunks, its momentum chunks (the
 * optimizer's durable state), the dead letters of the round, the round commit (SHA-256 of the
 * weights, contributors, hyper-parameters, timing, and the offset of the round's first weights
 * chunk), and the consumed offsets of the sums. A read_committed reader sees a whole round or
 * none. What became of the transaction is a value: {@link Committed}, {@link Fenced} (another
 * optimizer of the run took over) or {@link Aborted} (nothing of it is visible).
 *
 * <p>The transactional id is the run's: a new instance fences the previous one.
 */
final class RoundPublisher implements AutoCloseable {

  /** What became of a round's transaction. */
  sealed interface Result permits Committed, Fenced, Aborted {}

  /** The round is on the log, as {@code commit} says. */
  record Committed(RoundCommit commit) implements Result {}

  /** Another optimizer of the run has taken over; this one must stop. */
  record Fenced(KafkaException cause) implements Result {}

  /** The transaction was aborted: nothing of the round is visible, and it can be tried again. */
  record Aborted(Exception cause) implements Result {}

  /** A round to publish: the next round's number, state and commit fields. */
  record Round(int number, RoundOutcome outcome, String reason, float[] weights,
      float[] momentum, List<Contribution> contributors, double learningRate,
      long openedAtMs, long reductionDoneAtMs) {}

  private final RunTopics topics;
  private final OuterOptimizer.Hooks hooks;
  /** The key the run's commits are signed with; null for an unsigned run. */
  private PrivateKey signer;
  private final KafkaProducer<byte[], byte[]> producer;
  private final AvroSerde<WeightsChunk> weightsSerde = AvroSerde.of(WeightsChunk.class);
  private final AvroSerde<OptimizerStateChunk> stateSerde = AvroSerde.of(OptimizerStateChunk.class);
  private final AvroSerde<RoundCommit> commitSerde = AvroSerde.of(RoundCommit.class);
  private final AvroSerde<ModelDescription> modelSerde = AvroSerde.of(ModelDescription.class);

  /** Signs every commit from now on with {@code key} (null: none). */
  void signWith(PrivateKey key) {
    this.signer = key;
  }

  /** Aborts whatever a previous instance of the run left open, and fences it. */
  RoundPublisher(RunTopics topics, KafkaClientConfig clients, OuterOptimizer.Hooks hooks) {
    this.topics = topics;
    this.hooks = hooks;
    this.producer = new KafkaProducer<>(
        clients.transactionalProducer(RunAcls.optimizerId(topics.runId())),
        new ByteArraySerializer(), new ByteArraySerializer());
    try {
      producer.initTransactions();
    } catch (RuntimeException e) {
      producer.close(Duration.ZERO);
      throw e;
    }
  }

  /**
   * Publishes {@code round} of run {@code model} (whose description goes with it when
   * {@code withModel}), with {@code deadLetters} and the {@code consumed} offsets of
   * {@code group}.
   */
  Result publish(ModelDescription model, boolean withModel, ChunkPlan plan, Round round,
      List<ProducerRecord<byte[], byte[]>> deadLetters,
      Map<TopicPartition, OffsetAndMetadata> consumed, ConsumerGroupMetadata group) {
    try {
      producer.beginTransaction();
      byte[] runKey = topics.runId().getBytes(StandardCharsets.UTF_8);
      if (withModel) {
        producer.send(new ProducerRecord<>(topics.model(), runKey, modelSerde.encode(model)));
      }
      deadLetters.forEach(producer::send);
      long weightsOffset = sendChunks(plan, round);
      RoundCommit commit = RoundCommit.newBuilder()
          .setRunId(topics.runId()).setRound(round.number())
          .setWeightsSha256(ByteBuffer.wrap(Checksums.sha256(round.weights())))
          .setTotalElements(plan.totalElements()).setChunkCount(plan.chunkCount())
          .setWeightsOffset(weightsOffset).setOutcome(round.outcome()).setReason(round.reason())
          .setContributors(round.contributors())
          .setOuterOptimizer(model.getOuterOptimizer())
          .setOuterLearningRate(round.learningRate())
          .setRoundOpenedAtMs(round.openedAtMs()).setReductionDoneAtMs(round.reductionDoneAtMs())
          .setCommittedAtMs(System.currentTimeMillis())
          .build();
      if (signer != null) {
        commit = CommitSignatures.sign(commit, signer);
      }
      producer.send(new ProducerRecord<>(topics.commits(), runKey, commitSerde.encode(commit)));
      if (!consumed.isEmpty()) {
        producer.sendOffsetsToTransaction(consumed, group);
      }
      producer.commitTransaction();
      return new Committed(commit);
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      return new Fenced(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return abort(e);
    } catch (ExecutionException | KafkaException e) {
      return abort(e);
    }
  }

  /** Sends the weights and momentum chunks; returns the offset of the first weights chunk. */
  private long sendChunks(ChunkPlan plan, Round round)
      throws ExecutionException, InterruptedException {
    Future<RecordMetadata> first = null;
    try (ChunkEncoder encoder = new ChunkEncoder(PayloadFormat.FP32, plan.chunkElements())) {
      for (int i = 0; i < plan.chunkCount(); i++) {
        ChunkRange range = plan.range(i);
        int from = Math.toIntExact(range.offset());
        byte[] key = RunTopics.chunkKey(i);
        ChunkEncoder.Encoded w = encoder.encode(round.weights(), from, range.count());
        Future<RecordMetadata> sent = producer.send(new ProducerRecord<>(topics.weights(), key,
            weightsSerde.encode(new WeightsChunk(topics.runId(), round.number(), i,
                plan.chunkCount(), range.offset(), range.count(), PayloadFormat.FP32.encoding(),
                w.payload(), w.crc32c()))));
        first = first == null ? sent : first;
        hooks.afterWeightsChunkSent(round.number(), i);
        ChunkEncoder.Encoded m = encoder.encode(round.momentum(), from, range.count());
        producer.send(new ProducerRecord<>(topics.optimizerState(), key,
            stateSerde.encode(new OptimizerStateChunk(topics.runId(), round.number(), i,
                plan.chunkCount(), range.offset(), range.count(), m.payload(), m.crc32c()))));
      }
    }
    producer.flush();
    return first.get().offset();
  }

  private Result abort(Exception cause) {
    try {
      producer.abortTransaction();
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      return new Fenced(e);
    }
    return new Aborted(cause);
  }

  @Override
  public void close() {
    producer.close(Duration.ofSeconds(5));
  }
}
