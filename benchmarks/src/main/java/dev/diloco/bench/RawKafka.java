package dev.diloco.bench;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.PartitionReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The baselines of the benchmarks: what plain Kafka clients take to move the same bytes on the
 * same broker in the same run, and the median of timings taken on a shared, noisy machine.
 */
final class RawKafka {
  private RawKafka() {}

  /** How long any one read of a benchmark may take. */
  static final Duration READ_TIMEOUT = Duration.ofMinutes(20);

  static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  /** Sends {@code records} with an idempotent producer and waits for all; seconds taken. */
  static double produce(List<ProducerRecord<byte[], byte[]>> records, KafkaClientConfig clients) {
    long t0 = System.nanoTime();
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      records.forEach(producer::send);
      producer.flush();
    }
    return (System.nanoTime() - t0) / 1e9;
  }

  /** Reads every partition of {@code topic} to its end, with one consumer; bytes read. */
  static long readToEnd(String topic, int partitions, KafkaClientConfig clients) {
    long[] bytes = {0};
    try (var consumer = new KafkaConsumer<>(clients.scanner(), new ByteArrayDeserializer(),
        new ByteArrayDeserializer())) {
      for (int p = 0; p < partitions; p++) {
        PartitionReader.read(consumer, new TopicPartition(topic, p), 0, Long.MAX_VALUE,
            READ_TIMEOUT, r -> {
              bytes[0] += r.value().length;
              return true;
            });
      }
    }
    return bytes[0];
  }

  /**
   * Waits for {@code count} records written to {@code topic} after the call (with
   * {@code fromEnd}) or from its beginning; bytes read.
   */
  static long awaitRecords(String topic, int partitions, KafkaClientConfig clients, int count,
      boolean fromEnd) {
    List<TopicPartition> tps = new ArrayList<>();
    for (int p = 0; p < partitions; p++) {
      tps.add(new TopicPartition(topic, p));
    }
    long bytes = 0;
    int seen = 0;
    try (var consumer = new KafkaConsumer<>(clients.consumer(null), new ByteArrayDeserializer(),
        new ByteArrayDeserializer())) {
      consumer.assign(tps);
      if (fromEnd) {
        consumer.seekToEnd(tps);
        tps.forEach(consumer::position); // resolve the end now, before anything new arrives
      } else {
        consumer.seekToBeginning(tps);
      }
      long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
      while (seen < count) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(count + " records of " + topic + " did not come "
              + "within " + READ_TIMEOUT);
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          bytes += r.value().length;
          seen++;
        }
      }
    }
    return bytes;
  }
}
