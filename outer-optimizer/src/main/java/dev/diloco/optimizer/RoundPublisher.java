package dev.diloco.optimizer;

import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.WireBounds;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OptimizerStateChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import dev.diloco.schemas.WeightsChunk;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;

/**
 * Publishes a round in one Kafka transaction: its weights chunks, its momentum chunks (the
 * optimizer's durable state), the dead letters of the round, the round commit (SHA-256 of the
 * weights, contributors, hyper-parameters, timing, and the offset of the round's first weights
 * chunk), and the consumed offsets of the sums. A read_committed reader sees a whole round or
 * none. What became of the transaction is an {@link Outcome}: {@code Committed}, {@code Fenced}
 * (another optimizer of the run took over) or {@code Aborted} (nothing of it is visible).
 *
 * <p>The producer is given (a {@code KafkaProducer} whose transactional id is the run's, so a
 * new instance fences the previous one; a {@code MockProducer} in the unit tests).
 */
final class RoundPublisher implements AutoCloseable {

  /** A round to publish: the next round's number, state and commit fields. */
  record Round(int number, RoundOutcome outcome, String reason, float[] weights,
      float[] momentum, List<Contribution> contributors, double learningRate,
      long openedAtMs, long reductionDoneAtMs) {}

  private final RunTopics topics;
  /** The key the run's commits are signed with; null for an unsigned run. */
  private PrivateKey signer;
  private final Producer<byte[], byte[]> producer;
  private final AvroSerde<WeightsChunk> weightsSerde = AvroSerde.of(WeightsChunk.class);
  private final AvroSerde<OptimizerStateChunk> stateSerde = AvroSerde.of(OptimizerStateChunk.class);
  private final AvroSerde<RoundCommit> commitSerde = AvroSerde.of(RoundCommit.class);
  private final AvroSerde<ModelDescription> modelSerde = AvroSerde.of(ModelDescription.class);
  private final AvroSerde<DeadLetter> letterSerde = AvroSerde.of(DeadLetter.class);

  /** Signs every commit from now on with {@code key} (null: none). */
  void signWith(PrivateKey key) {
    this.signer = key;
  }

  /**
   * Takes {@code producer} (transactional) and aborts whatever a previous instance of the run
   * left open, fencing it; closes the producer when that fails.
   */
  RoundPublisher(RunTopics topics, Producer<byte[], byte[]> producer) {
    this.topics = topics;
    this.producer = producer;
    try {
      producer.initTransactions();
    } catch (RuntimeException e) {
      producer.close(Duration.ZERO);
      throw e;
    }
  }

  /**
   * Publishes {@code round} of run {@code model} (whose description goes with it when
   * {@code withModel}), with {@code refusals} and the {@code consumed} offsets of
   * {@code group}.
   */
  Outcome publish(ModelDescription model, boolean withModel, ChunkPlan plan, Round round,
      List<OuterRounds.Refusal> refusals, Map<TopicPartition, OffsetAndMetadata> consumed,
      ConsumerGroupMetadata group) {
    try {
      producer.beginTransaction();
      byte[] runKey = topics.runId().getBytes(StandardCharsets.UTF_8);
      if (withModel) {
        producer.send(new ProducerRecord<>(topics.model(), runKey, modelSerde.encode(model)));
      }
      for (OuterRounds.Refusal r : refusals) {
        producer.send(new ProducerRecord<>(topics.deadLetters(), r.key(),
            letterSerde.encode(r.letter())));
      }
      long weightsOffset = sendChunks(plan, round);
      RoundCommit commit = RoundCommit.newBuilder()
          .setRunId(topics.runId()).setRound(round.number())
          .setWeightsSha256(ByteBuffer.wrap(Checksums.sha256(round.weights())))
          .setTotalElements(plan.totalElements()).setChunkCount(plan.chunkCount())
          .setWeightsOffset(weightsOffset).setOutcome(round.outcome())
          .setReason(WireBounds.fit(RoundCommit.SCHEMA$, "reason", round.reason()))
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
      Map<DeadLetterReason, Integer> refused = new EnumMap<>(DeadLetterReason.class);
      refusals.forEach(r -> refused.merge(r.reason(), 1, Integer::sum));
      return new Outcome.Committed(commit, refused);
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      return new Outcome.Fenced(topics.runId(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return abort(round.number(), e);
    } catch (ExecutionException | KafkaException e) {
      return abort(round.number(), e);
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
        ChunkEncoder.Encoded m = encoder.encode(round.momentum(), from, range.count());
        producer.send(new ProducerRecord<>(topics.optimizerState(), key,
            stateSerde.encode(new OptimizerStateChunk(topics.runId(), round.number(), i,
                plan.chunkCount(), range.offset(), range.count(), m.payload(), m.crc32c()))));
      }
    }
    producer.flush();
    return first.get().offset();
  }

  private Outcome abort(int round, Exception cause) {
    try {
      producer.abortTransaction();
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      return new Outcome.Fenced(topics.runId(), e);
    }
    return new Outcome.Aborted(round, cause);
  }

  @Override
  public void close() {
    producer.close(Duration.ofSeconds(5));
  }
}
