package dev.diloco.optimizer;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunAcls;
import dev.diloco.core.kafka.RunTopics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * What the optimizer reads: the reducer's sums and round failures, from the offsets its last
 * committed round consumed up to. Assigned, not subscribed: the run has one optimizer, and its
 * offsets move only with its transactions ({@link #consumed()} goes with each round).
 */
final class SumsConsumer implements AutoCloseable {

  private final RunTopics topics;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final Map<TopicPartition, OffsetAndMetadata> consumed = new HashMap<>();

  SumsConsumer(RunTopics topics, KafkaClientConfig clients) {
    this.topics = topics;
    Map<String, Object> config = clients.consumer(RunAcls.optimizerId(topics.runId()));
    config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    this.consumer = new KafkaConsumer<>(config, new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
  }

  /** Takes every partition of the sums and failures topics, at the committed offsets. */
  void assign() {
    List<TopicPartition> partitions = new ArrayList<>();
    for (String topic : List.of(topics.reduced(), topics.roundFailures())) {
      var found = consumer.partitionsFor(topic, Duration.ofSeconds(30));
      if (found == null || found.isEmpty()) {
        throw new IllegalStateException("topic " + topic + " does not exist: create the run's "
            + "topics first");
      }
      found.forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
    }
    consumer.assign(partitions);
    seekToCommitted();
  }

  /** Back to the offsets of the last committed round: what it had not consumed comes again. */
  void seekToCommitted() {
    consumed.clear();
    var committed = consumer.committed(consumer.assignment(), Duration.ofSeconds(30));
    for (TopicPartition tp : consumer.assignment()) {
      OffsetAndMetadata at = committed.get(tp);
      if (at == null) {
        consumer.seekToBeginning(List.of(tp));
      } else {
        consumer.seek(tp, at.offset());
      }
    }
  }

  ConsumerRecords<byte[], byte[]> poll(Duration timeout) {
    return consumer.poll(timeout);
  }

  /** Counts {@code r} as consumed: the next round's transaction commits past it. */
  void consumed(ConsumerRecord<byte[], byte[]> r) {
    consumed.put(new TopicPartition(r.topic(), r.partition()),
        new OffsetAndMetadata(r.offset() + 1));
  }

  /** The offsets to commit with the next round, a copy. */
  Map<TopicPartition, OffsetAndMetadata> consumed() {
    return new HashMap<>(consumed);
  }

  ConsumerGroupMetadata group() {
    return consumer.groupMetadata();
  }

  void wakeup() {
    consumer.wakeup();
  }

  @Override
  public void close() {
    consumer.close();
  }
}
