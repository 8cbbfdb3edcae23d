package dev.diloco.launcher.metrics;

import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.TopicBytes;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.function.Consumer;

/**
 * The bytes this process's Kafka clients sent to and received from each topic, as counters
 * {@code diloco_kafka_sent_bytes_total} and {@code diloco_kafka_received_bytes_total} with the
 * topic's name as its label. Each appears when a client first uses the topic.
 */
final class KafkaTopicMeters implements AutoCloseable {

  private final MeterRegistry registry;
  private final RunTopics topics;
  private final Consumer<TopicBytes.Key> watcher = this::register;

  KafkaTopicMeters(MeterRegistry registry, RunTopics topics) {
    this.registry = registry;
    this.topics = topics;
    TopicBytes.watch(watcher);
  }

  private void register(TopicBytes.Key key) {
    boolean sent = key.direction() == TopicBytes.Direction.SENT;
    FunctionCounter.builder(sent ? "diloco.kafka.sent" : "diloco.kafka.received", key,
            TopicBytes::total)
        .baseUnit("bytes")
        .description(sent ? "Bytes of records this process's Kafka producers sent, by topic"
            : "Bytes this process's Kafka consumers fetched, by topic")
        .tag("topic", nameOf(key))
        .register(registry);
  }

  /** The topic's name: a consumer's metrics write its dots as underscores. */
  private String nameOf(TopicBytes.Key key) {
    for (String topic : topics.all()) {
      if (TopicBytes.tagOf(topic, key.direction()).equals(key.topicTag())) {
        return topic;
      }
    }
    return key.topicTag();
  }

  @Override
  public void close() {
    TopicBytes.unwatch(watcher);
  }
}
