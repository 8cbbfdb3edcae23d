package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A cluster that does not have a run's topics as it needs them: a clear error at start-up. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TopicsCommandIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Cli.run(out, err, args);
  }

  @Test
  void missingTopicsStopEveryServiceAtStartWithWhatToDo() {
    String servers = KAFKA.clients().bootstrapServers();
    for (String service : List.of("reducer", "worker", "optimizer")) {
      assertThat(run(service, "--run", "absent", "--bootstrap-servers", servers))
          .as(service).isEqualTo(1);
      assertThat(err.toString()).contains("the topics of run absent on " + servers
          + " are not ready:").contains("topic diloco.absent.pseudograds does not exist: "
          + "create the run's topics with 'diloco topics create --run absent'")
          .doesNotContain("\tat ");
    }
  }

  @Test
  void aTopicTooSmallForTheChunksOrWronglyPartitionedIsNamed() throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    RunTopics topics = new RunTopics("small");
    List<NewTopic> made = new ArrayList<>();
    for (NewTopic t : topics.newTopics(2, (short) 1, clients)) {
      if (t.name().equals(topics.weights())) {
        made.add(new NewTopic(t.name(), 3, (short) 1).configs(t.configs()));
      } else if (t.name().equals(topics.pseudoGradients())) {
        made.add(new NewTopic(t.name(), 2, (short) 1).configs(
            Map.of(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, "1000000")));
      } else {
        made.add(t);
      }
    }
    Topics.create(clients, made);
    assertThat(run("topics", "check", "--run", "small", "--chunk-elements", "524288",
        "--bootstrap-servers", clients.bootstrapServers())).isEqualTo(1);
    assertThat(err.toString())
        .contains("topic diloco.small.pseudograds allows records of 1000000 bytes "
            + "(max.message.bytes); chunks of 524288 elements need 4259840")
        .contains("topic diloco.small.weights has 3 partitions; it needs 1");
    // Smaller chunks fit: only the partitions are wrong then.
    err.getBuffer().setLength(0);
    assertThat(run("topics", "check", "--run", "small", "--chunk-elements", "65536",
        "--bootstrap-servers", clients.bootstrapServers())).isEqualTo(1);
    assertThat(err.toString()).doesNotContain("max.message.bytes").contains("weights has 3");
  }

  @Test
  void topicsMadeByTopicsCreateCheckOut() {
    String servers = KAFKA.clients().bootstrapServers();
    assertThat(run("topics", "create", "--run", "ready", "--retention", "30d",
        "--bootstrap-servers", servers)).isZero();
    assertThat(run("topics", "check", "--run", "ready", "--bootstrap-servers", servers)).isZero();
    assertThat(out.toString()).contains("the 9 topics of run ready are ready");
  }
}
