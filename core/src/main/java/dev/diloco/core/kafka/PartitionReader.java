package dev.diloco.core.kafka;

import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * Reads one partition from an offset to its end as it stands when the read starts: how a
 * worker loads a round, the optimizer resumes, and an audit scans or fetches a run. Under
 * read_committed the end is the last stable offset, and the position skips aborted records and
 * transaction markers, so the loop ends on the position, not on the last record seen.
 */
public final class PartitionReader {
  private PartitionReader() {}

  /**
   * Feeds {@code handler} the committed records of {@code partition} in [{@code from},
   * {@code until}) (clipped to the partition's beginning and end), until it returns false;
   * fails when that takes longer than {@code timeout}. {@code consumer} is reassigned.
   */
  public static void read(KafkaConsumer<byte[], byte[]> consumer, TopicPartition partition,
      long from, long until, Duration timeout,
      Predicate<ConsumerRecord<byte[], byte[]>> handler) {
    consumer.assign(List.of(partition));
    long end = Math.min(until, consumer.endOffsets(List.of(partition), timeout).get(partition));
    long start = Math.max(from,
        consumer.beginningOffsets(List.of(partition), timeout).get(partition));
    if (start >= end) {
      return;
    }
    consumer.seek(partition, start);
    long deadline = System.nanoTime() + timeout.toNanos();
    while (consumer.position(partition, timeout) < end) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("reading " + partition + " up to offset " + end
            + " took longer than " + timeout);
      }
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
        if (r.offset() >= end || !handler.test(r)) {
          return;
        }
      }
    }
  }
}
