package dev.diloco.audit;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.PartitionReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads a run's topics for an audit, with a read_committed consumer: a whole topic from the
 * beginning to its end as it stands now, or the records at given offsets. Every read is bounded
 * by a timeout, and a topic that does not exist is an error that names it.
 */
public final class TopicReader implements AutoCloseable {

  /** Where one record lies, and its size. */
  public record Location(String topic, int partition, long offset, int bytes) {
    static Location of(ConsumerRecord<byte[], byte[]> r) {
      return new Location(r.topic(), r.partition(), r.offset(),
          r.value() == null ? 0 : r.value().length);
    }
  }

  private final KafkaConsumer<byte[], byte[]> consumer;
  private final Duration timeout;

  public TopicReader(KafkaClientConfig clients, Duration timeout) {
    this.consumer = new KafkaConsumer<>(clients.scanner(), new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
    this.timeout = timeout;
  }

  /** Every committed record of {@code topic}, partition by partition, in offset order. */
  public void scan(String topic, Consumer<ConsumerRecord<byte[], byte[]>> handler) {
    for (TopicPartition tp : partitions(topic)) {
      read(tp, 0, Long.MAX_VALUE, r -> handler.accept(r));
    }
  }

  /** The records at {@code locations}, in offset order per topic partition. */
  public void fetch(Collection<Location> locations,
      Consumer<ConsumerRecord<byte[], byte[]>> handler) {
    // In topic and partition order: the same order on every replay.
    Map<TopicPartition, NavigableSet<Long>> byPartition = new java.util.TreeMap<>(
        java.util.Comparator.comparing(TopicPartition::topic)
            .thenComparingInt(TopicPartition::partition));
    locations.forEach(l -> byPartition.computeIfAbsent(new TopicPartition(l.topic(),
        l.partition()), p -> new TreeSet<>()).add(l.offset()));
    byPartition.forEach((tp, offsets) -> read(tp, offsets.first(), offsets.last() + 1, r -> {
      if (offsets.contains(r.offset())) {
        handler.accept(r);
      }
    }));
  }

  /** The names of the topics this client may see that match {@code pattern}, sorted. */
  public List<String> topics(java.util.regex.Pattern pattern) {
    return consumer.listTopics(timeout).keySet().stream()
        .filter(t -> pattern.matcher(t).matches()).sorted().toList();
  }

  /** The partitions of {@code topic}, in order. */
  public List<TopicPartition> partitions(String topic) {
    List<PartitionInfo> found = consumer.partitionsFor(topic, timeout);
    if (found == null || found.isEmpty()) {
      throw new IllegalStateException("topic " + topic + " does not exist");
    }
    List<TopicPartition> list = new ArrayList<>();
    found.forEach(p -> list.add(new TopicPartition(topic, p.partition())));
    list.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
    return list;
  }

  /** Records of one partition in [from, until), bounded by its end as it stands now. */
  private void read(TopicPartition tp, long from, long until,
      Consumer<ConsumerRecord<byte[], byte[]>> handler) {
    PartitionReader.read(consumer, tp, from, until, timeout, r -> {
      handler.accept(r);
      return true;
    });
  }

  @Override
  public void close() {
    consumer.close();
  }
}
