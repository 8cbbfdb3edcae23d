package dev.diloco.core.kafka;

import dev.diloco.schemas.RoundCommit;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Follows a run's commit topic (read_committed) and knows its newest round: how workers wait
 * for the next round without reading the whole topic again each time.
 */
public final class CommitWatcher implements AutoCloseable {

  private final RunTopics topics;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final AvroSerde<RoundCommit> serde = AvroSerde.of(RoundCommit.class);
  private final TopicPartition partition;
  private final java.util.TreeMap<Integer, RoundCommit> seen = new java.util.TreeMap<>();

  public CommitWatcher(RunTopics topics, KafkaClientConfig clients) {
    this.topics = topics;
    this.partition = new TopicPartition(topics.commits(), 0);
    this.consumer = new KafkaConsumer<>(clients.consumer(null), new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
    consumer.assign(List.of(partition));
    consumer.seekToBeginning(List.of(partition));
  }

  /** The newest commit seen so far, after reading what has arrived within {@code wait}. */
  public Optional<RoundCommit> newest(Duration wait) {
    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(wait)) {
      if (r.value() == null) {
        continue;
      }
      try {
        RoundCommit c = serde.decode(r.value());
        if (c.getRunId().equals(topics.runId())) {
          seen.putIfAbsent(c.getRound(), c);
        }
      } catch (SerializationException e) {
        // an unreadable commit is no round: the weights' checks would refuse it anyway
      }
    }
    return seen.isEmpty() ? Optional.empty() : Optional.of(seen.lastEntry().getValue());
  }

  /** The commit of {@code round}, if it has been seen. */
  public Optional<RoundCommit> round(int round) {
    return Optional.ofNullable(seen.get(round));
  }

  /**
   * Waits until a round of at least {@code round} is committed and returns the newest one, or
   * empty when {@code timeout} passes or {@link #wakeup()} is called.
   */
  public Optional<RoundCommit> await(int round, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try {
      while (System.nanoTime() < deadline) {
        Optional<RoundCommit> c = newest(Duration.ofMillis(200));
        if (c.isPresent() && c.get().getRound() >= round) {
          return c;
        }
      }
    } catch (WakeupException stopping) {
      return Optional.empty();
    }
    return Optional.empty();
  }

  /** Makes a blocked {@link #await} return (from another thread). */
  public void wakeup() {
    consumer.wakeup();
  }

  @Override
  public void close() {
    consumer.close();
  }
}
