package dev.diloco.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.common.metrics.MetricConfig;
import org.apache.kafka.common.metrics.Metrics;
import org.apache.kafka.common.metrics.Sensor;
import org.apache.kafka.common.metrics.stats.CumulativeSum;
import org.apache.kafka.common.utils.Time;
import org.junit.jupiter.api.Test;

/** The process's bytes per topic, as two clients' metrics report them, closed or not. */
class TopicBytesTest {

  /** A client's metrics registry with the reporter, as a Kafka client makes it. */
  private static Metrics client() {
    return new Metrics(new MetricConfig(), List.of(new TopicBytes()), Time.SYSTEM);
  }

  private static Sensor bytes(Metrics m, String group, String name, String topicTag) {
    Sensor s = m.sensor(group + name + topicTag);
    s.add(m.metricName(name, group, Map.of("topic", topicTag)), new CumulativeSum());
    return s;
  }

  @Test
  void totalsAddUpOverClientsAndOutliveThem() {
    TopicBytes.Key sent = new TopicBytes.Key("diloco.tb.chunks", TopicBytes.Direction.SENT);
    TopicBytes.Key received = new TopicBytes.Key(TopicBytes.tagOf("diloco.tb.chunks",
        TopicBytes.Direction.RECEIVED), TopicBytes.Direction.RECEIVED);
    List<TopicBytes.Key> told = new ArrayList<>();
    Consumer<TopicBytes.Key> watcher = k -> {
      if (k.topicTag().contains("tb")) {
        told.add(k);
      }
    };
    TopicBytes.watch(watcher);
    try {
      Metrics producer = client();
      Metrics consumer = client();
      bytes(producer, "producer-topic-metrics", "byte-total", "diloco.tb.chunks").record(100);
      bytes(consumer, "consumer-fetch-manager-metrics", "bytes-consumed-total",
          "diloco_tb_chunks").record(40);
      // Another metric of the same group, and a topic-less one, are not bytes.
      bytes(producer, "producer-topic-metrics", "record-send-total", "diloco.tb.chunks")
          .record(7);
      assertThat(TopicBytes.total(sent)).isEqualTo(100);
      assertThat(TopicBytes.total(received)).isEqualTo(40);
      assertThat(told).containsExactly(sent, received);

      Metrics second = client();
      bytes(second, "producer-topic-metrics", "byte-total", "diloco.tb.chunks").record(5);
      assertThat(TopicBytes.total(sent)).isEqualTo(105);
      producer.close(); // a closed client's bytes stay counted, once
      second.close();
      assertThat(TopicBytes.total(sent)).isEqualTo(105);
      consumer.close();
      assertThat(TopicBytes.total(received)).isEqualTo(40);
      assertThat(told).as("each key told once").hasSize(2);
    } finally {
      TopicBytes.unwatch(watcher);
    }
  }

  @Test
  void everyClientCarriesTheReporterAfterAnyTheFileNames() {
    assertThat(KafkaClientConfig.of("k:9092").producer().get("metric.reporters"))
        .isEqualTo(TopicBytes.class.getName());
    assertThat(KafkaClientConfig.of(Map.of("bootstrap.servers", "k:9092", "metric.reporters",
        "com.example.Reporter")).consumer(null).get("metric.reporters"))
        .isEqualTo("com.example.Reporter," + TopicBytes.class.getName());
  }
}
