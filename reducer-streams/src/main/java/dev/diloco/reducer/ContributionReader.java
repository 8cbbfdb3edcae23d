package dev.diloco.reducer;

import dev.diloco.core.kafka.KafkaClientConfig;
import java.time.Duration;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads one pseudo-gradient chunk back from the input topic by its offset. The reducer keeps
 * only pointers to the chunks of an open sum in its changelogged state, not their bytes: the
 * input log already holds them durably, so a task that restarts re-reads them instead of the
 * changelog having to store them a second time.
 */
interface ContributionReader extends AutoCloseable {

  byte[] read(TopicPartition partition, long offset);

  @Override
  void close();

  /** A reader with its own consumer, assigned and seeked for each read. */
  static ContributionReader kafka(KafkaClientConfig clients) {
    KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(clients.consumer(null),
        new ByteArrayDeserializer(), new ByteArrayDeserializer());
    return new ContributionReader() {
      @Override
      public byte[] read(TopicPartition partition, long offset) {
        consumer.assign(List.of(partition));
        consumer.seek(partition, offset);
        long deadline = System.nanoTime() + KafkaClientConfig.READ_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
          for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
            if (r.offset() == offset) {
              return r.value();
            }
            if (r.offset() > offset) {
              break;
            }
          }
          if (consumer.position(partition) > offset) {
            break;
          }
        }
        throw new IllegalStateException("the chunk at " + partition + "@" + offset
            + " that an open sum points to cannot be read back from the input topic");
      }

      @Override
      public void close() {
        consumer.close();
      }
    };
  }
}
