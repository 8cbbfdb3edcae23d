package dev.diloco.broker;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.Topics;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One embedded broker for a test class, in a temporary directory, stopped after the class:
 * {@code @RegisterExtension static final EmbeddedKafkaExtension KAFKA =
 * new EmbeddedKafkaExtension();}
 */
public final class EmbeddedKafkaExtension implements BeforeAllCallback, AfterAllCallback {

  private EmbeddedKafkaBroker broker;

  @Override
  public void beforeAll(ExtensionContext context) {
    broker = EmbeddedKafkaBroker.builder().start();
  }

  @Override
  public void afterAll(ExtensionContext context) {
    if (broker != null) {
      broker.close();
      broker = null;
    }
  }

  public EmbeddedKafkaBroker broker() {
    return broker;
  }

  public String bootstrapServers() {
    return broker.bootstrapServers();
  }

  public KafkaClientConfig clients() {
    return KafkaClientConfig.of(bootstrapServers());
  }

  /** Creates topics with the large-record settings, and waits until they exist. */
  public void createTopics(int partitions, String... names) {
    KafkaClientConfig clients = clients();
    Topics.create(clients, java.util.Arrays.stream(names)
        .map(n -> new NewTopic(n, partitions, (short) 1).configs(clients.topic())).toList());
  }
}
