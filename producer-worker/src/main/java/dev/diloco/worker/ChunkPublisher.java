package dev.diloco.worker;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.codec.PseudoGradientRecords;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.schemas.PseudoGradientChunk;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Publishes a worker's pseudo-gradient for a round: encoded, cut into the layout's chunks, each
 * with its CRC32C, sent with an idempotent producer to partition {@code chunk mod P}, so chunk i
 * of every worker meets in one partition of the reducer.
 */
public final class ChunkPublisher implements AutoCloseable {

  /** What a round's publication cost. */
  public record Published(int chunks, long bytes) {}

  private final String topic;
  private final RunTopics topics;
  private final String workerId;
  private final ChunkPlan plan;
  private final int partitions;
  private final PseudoGradientRecords records;
  private final KafkaProducer<byte[], byte[]> producer;
  private final AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);

  /** A publisher to the run's shared pseudo-gradient topic. */
  public ChunkPublisher(RunTopics topics, String workerId, ChunkPlan plan, PayloadFormat format,
      int partitions, KafkaClientConfig clients) {
    this(topics.pseudoGradients(), topics, workerId, plan, format, partitions, clients);
  }

  /** A publisher to {@code topic}: the shared one, or the worker's own. */
  public ChunkPublisher(String topic, RunTopics topics, String workerId, ChunkPlan plan,
      PayloadFormat format, int partitions, KafkaClientConfig clients) {
    this.topic = topic;
    this.topics = topics;
    this.workerId = workerId;
    this.plan = plan;
    this.partitions = partitions;
    this.records = new PseudoGradientRecords(topics.runId(), workerId, plan, format);
    this.producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer());
  }

  /** Sends every chunk of {@code delta} for {@code round} and waits until all are acknowledged. */
  public Published publish(int round, float[] delta, int innerSteps, long tokens,
      float meanInnerLoss) {
    return send(round, delta, innerSteps, tokens, meanInnerLoss).await();
  }

  /**
   * Encodes and sends every chunk of {@code delta} for {@code round}, without waiting for the
   * broker: {@link Sending#await()} does. {@code delta} may change once this returns.
   */
  public Sending send(int round, float[] delta, int innerSteps, long tokens,
      float meanInnerLoss) {
    List<Future<RecordMetadata>> sent = new ArrayList<>(plan.chunkCount());
    long bytes = 0;
    var stats = new PseudoGradientRecords.Stats(innerSteps, tokens, meanInnerLoss);
    for (int i = 0; i < plan.chunkCount(); i++) {
      byte[] value = serde.encode(records.chunk(round, i, delta, stats));
      bytes += value.length;
      sent.add(producer.send(new ProducerRecord<>(topic, topics.partitionOf(i, partitions),
          RunTopics.chunkKey(i), value)));
    }
    return new Sending(round, new Published(plan.chunkCount(), bytes), sent);
  }

  /** A round's chunks on their way to the broker. */
  public final class Sending {
    private final int round;
    private final Published published;
    private final List<Future<RecordMetadata>> sent;

    private Sending(int round, Published published, List<Future<RecordMetadata>> sent) {
      this.round = round;
      this.published = published;
      this.sent = sent;
    }

    /** What was sent, acknowledged or not. */
    public Published published() {
      return published;
    }

    /** Waits until every chunk is acknowledged; a chunk the broker refused throws, saying why. */
    public Published await() {
      for (Future<RecordMetadata> f : sent) {
        try {
          f.get();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while publishing round " + round, e);
        } catch (ExecutionException e) {
          throw failed(round, e.getCause());
        }
      }
      return published;
    }
  }

  private IllegalStateException failed(int round, Throwable cause) {
    String hint = cause instanceof TopicAuthorizationException
        ? " (on a cluster with ACLs a worker writes only its own topic "
            + (RunTopics.canNameTopic(workerId) ? topics.workerPseudoGradients(workerId)
                : topics.pseudoGradients() + ".<worker id>")
            + ": create it with 'diloco topics create --worker ID', grant it with "
            + "'diloco acls --worker User:ID', and start the worker with --worker-id ID)"
        : "";
    return new IllegalStateException("publishing round " + round + " of worker " + workerId
        + " to " + topic + " failed: " + cause.getMessage() + hint, cause);
  }

  @Override
  public void close() {
    records.close();
    producer.close(WorkerClients.CLOSE_BOUND); // every round it published was acknowledged already
  }
}
