package dev.diloco.core.log;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.ModelDescription;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows a run's commit topic (read_committed) and knows its newest round: how workers wait
 * for the next round without reading the whole topic again each time. A commit that does not
 * verify with the run's key (a forged round) is left out, with a warning that names it.
 */
public final class CommitWatcher implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(CommitWatcher.class);

  private final RunTopics topics;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final AvroSerde<RoundCommit> serde = AvroSerde.of(RoundCommit.class);
  private final TopicPartition partition;
  private final java.util.TreeMap<Integer, RoundCommit> seen = new java.util.TreeMap<>();
  private final RoundLog log;
  private ModelDescription description;

  public CommitWatcher(RunTopics topics, KafkaClientConfig clients) {
    this.topics = topics;
    this.log = new RoundLog(topics, clients, KafkaClientConfig.READ_TIMEOUT);
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
      RoundCommit c;
      try {
        c = serde.decode(r.value());
      } catch (SerializationException e) {
        continue; // an unreadable commit is no round: the weights' checks would refuse it anyway
      }
      if (!c.getRunId().equals(topics.runId()) || seen.containsKey(c.getRound())) {
        continue;
      }
      if (description == null) { // a commit is written with (or after) the run's description
        description = log.model().orElseThrow(() -> new IllegalStateException("run "
            + topics.runId() + " has a commit but no model description"));
      }
      if (CommitSignatures.check(description, c) instanceof Verdict.Reject<RoundCommit> bad) {
        LOG.warn("ignoring the commit at offset {} of {}: {}", r.offset(), topics.commits(),
            bad.detail());
        continue;
      }
      seen.put(c.getRound(), c);
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
    consumer.close(Duration.ofSeconds(1)); // no group to leave: nothing worth waiting for
  }
}
