package dev.diloco.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.diloco.core.kafka.KafkaClientConfig;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 180, unit = TimeUnit.SECONDS)
class EmbeddedKafkaBrokerIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  private static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void aSixteenMebibyteRecordGoesThroughWhole() throws Exception {
    String topic = "big-records";
    KAFKA.createTopics(1, topic);
    byte[] value = new byte[KafkaClientConfig.DEFAULT_MAX_RECORD_BYTES];
    new Random(42).nextBytes(value);
    KafkaClientConfig clients = KAFKA.clients();

    try (var producer = new KafkaProducer<>(clients.producer(), new StringSerializer(),
        new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(topic, "k", value)).get(60, TimeUnit.SECONDS);
    }
    try (var consumer = new KafkaConsumer<>(clients.consumer(null), new StringDeserializer(),
        new ByteArrayDeserializer())) {
      consumer.assign(List.of(new TopicPartition(topic, 0)));
      consumer.seekToBeginning(consumer.assignment());
      List<ConsumerRecord<String, byte[]>> got = pollUntil(consumer, 1);
      assertThat(got).singleElement().satisfies(r -> assertThat(r.value()).isEqualTo(value));
    }
  }

  @Test
  void aReadCommittedConsumerSeesATransactionOnlyAfterItCommitsAndNeverWhenItAborts()
      throws Exception {
    String topic = "transactions";
    KAFKA.createTopics(1, topic);
    TopicPartition tp = new TopicPartition(topic, 0);
    KafkaClientConfig clients = KAFKA.clients();
    Map<String, Object> uncommittedConfig = new HashMap<>(clients.consumer(null));
    uncommittedConfig.put("isolation.level", "read_uncommitted");

    try (var producer = new KafkaProducer<>(clients.transactionalProducer("tx-test"),
            new StringSerializer(), new StringSerializer());
        var committed = new KafkaConsumer<>(clients.consumer(null), new StringDeserializer(),
            new StringDeserializer());
        var uncommitted = new KafkaConsumer<>(uncommittedConfig, new StringDeserializer(),
            new StringDeserializer())) {
      committed.assign(List.of(tp));
      uncommitted.assign(List.of(tp));
      producer.initTransactions();

      producer.beginTransaction();
      producer.send(new ProducerRecord<>(topic, "aborted", "a1"));
      producer.flush();
      producer.abortTransaction();

      producer.beginTransaction();
      for (String v : List.of("c1", "c2", "c3")) {
        producer.send(new ProducerRecord<>(topic, "committed", v));
      }
      producer.flush();
      // The open transaction's records are on the log (an uncommitted reader gets them) ...
      assertThat(values(pollUntil(uncommitted, 4))).containsExactly("a1", "c1", "c2", "c3");
      // ... but a read_committed reader's end is still before them, so it gets none.
      Map<TopicPartition, Long> lastStable = committed.endOffsets(Set.of(tp));
      assertThat(lastStable.get(tp)).isEqualTo(2L); // after a1 and its abort marker
      assertThat(committed.poll(Duration.ofMillis(200))).isEmpty();

      producer.commitTransaction();
      assertThat(values(pollUntil(committed, 3))).containsExactly("c1", "c2", "c3");
    }
  }

  @Test
  void aRestartOnTheSameLogDirectoryKeepsTheDataAndThePort(@TempDir Path dir) throws Exception {
    String topic = "durable";
    List<String> written = List.of("round-0", "round-1", "round-2");
    int firstPort;
    try (var broker = EmbeddedKafkaBroker.builder().logDir(dir).start()) {
      firstPort = broker.port();
      KafkaClientConfig clients = KafkaClientConfig.of(broker.bootstrapServers());
      try (Admin admin = Admin.create(clients.admin())) {
        admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)))
            .all().get(30, TimeUnit.SECONDS);
      }
      try (var producer = new KafkaProducer<>(clients.producer(), new StringSerializer(),
          new StringSerializer())) {
        for (String v : written) {
          producer.send(new ProducerRecord<>(topic, v)).get(30, TimeUnit.SECONDS);
        }
      }
    }

    try (var broker = EmbeddedKafkaBroker.builder().logDir(dir).start()) {
      assertThat(broker.port()).isEqualTo(firstPort);
      try (var consumer = new KafkaConsumer<>(
          KafkaClientConfig.of(broker.bootstrapServers()).consumer(null),
          new StringDeserializer(), new StringDeserializer())) {
        consumer.assign(List.of(new TopicPartition(topic, 0)));
        consumer.seekToBeginning(consumer.assignment());
        assertThat(values(pollUntil(consumer, written.size()))).isEqualTo(written);
      }
    }
    assertThat(dir.resolve("kafka-logs").resolve("meta.properties")).exists();
  }

  @Test
  void aPortInUseIsAClearErrorAndLeavesNoBrokerBehind() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      int port = taken.getLocalPort();
      assertThatThrownBy(() -> EmbeddedKafkaBroker.builder().port(port).start())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("port " + port)
          .hasMessageContaining("in use");
    }
  }

  private static <K, V> List<ConsumerRecord<K, V>> pollUntil(KafkaConsumer<K, V> consumer,
      int count) {
    List<ConsumerRecord<K, V>> got = new ArrayList<>();
    await().atMost(WAIT).until(() -> {
      consumer.poll(Duration.ofMillis(200)).forEach(got::add);
      return got.size() >= count;
    });
    return got;
  }

  private static <K> List<String> values(List<ConsumerRecord<K, String>> records) {
    return records.stream().map(ConsumerRecord::value).toList();
  }
}
