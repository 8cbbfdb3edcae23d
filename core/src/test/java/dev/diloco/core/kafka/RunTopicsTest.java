package dev.diloco.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Test;

class RunTopicsTest {

  @Test
  void everyTopicOfARunSharesItsPrefix() {
    RunTopics topics = new RunTopics("shakespeare-7");
    assertThat(topics.pseudoGradients()).isEqualTo("diloco.shakespeare-7.pseudograds");
    assertThat(topics.all()).hasSize(9).doesNotHaveDuplicates()
        .allSatisfy(t -> assertThat(t).startsWith("diloco.shakespeare-7."));
  }

  @Test
  void aRunIdThatWouldMakeABadTopicNameIsRefused() {
    for (String bad : new String[] {"", "a.b", "has space", "-lead", "x".repeat(101), "ä"}) {
      assertThatThrownBy(() -> new RunTopics(bad))
          .as("'%s'", bad)
          .hasMessageContaining("run id '" + bad + "' is not valid");
    }
  }

  @Test
  void theAuditTrailIsKeptForeverOrForTheRetentionGivenAndTheStateIsCompacted() {
    RunTopics topics = new RunTopics("r");
    KafkaClientConfig clients = KafkaClientConfig.of("127.0.0.1:9092");
    for (NewTopic t : topics.newTopics(4, (short) 3, clients)) {
      boolean compacted = t.name().equals(topics.optimizerState());
      assertThat(t.configs().get(TopicConfig.CLEANUP_POLICY_CONFIG))
          .as(t.name()).isEqualTo(compacted ? "compact" : null);
      if (!compacted) {
        assertThat(t.configs()).containsEntry(TopicConfig.RETENTION_MS_CONFIG, "-1")
            .containsEntry(TopicConfig.RETENTION_BYTES_CONFIG, "-1");
      }
      assertThat(t.configs()).containsEntry(TopicConfig.MAX_MESSAGE_BYTES_CONFIG,
          Integer.toString(clients.recordLimitBytes()));
      assertThat(t.replicationFactor()).isEqualTo((short) 3);
    }
    assertThat(topics.newTopics(4, (short) 1, clients, 86_400_000L)).filteredOn(
        t -> t.name().equals(topics.pseudoGradients())).singleElement()
        .satisfies(t -> assertThat(t.configs())
            .containsEntry(TopicConfig.RETENTION_MS_CONFIG, "86400000"));
    assertThat(topics.newTopics(4, (short) 1, clients, 86_400_000L)).filteredOn(
        t -> t.name().equals(topics.model())).singleElement()
        .satisfies(t -> assertThat(t.configs()).as("the run's description, with its key")
            .containsEntry(TopicConfig.RETENTION_MS_CONFIG, "-1"));
    assertThatThrownBy(() -> topics.newTopics(4, (short) 1, clients, 0))
        .hasMessageContaining("retention must be at least 1 h (3600000 ms) or for ever, got 0");
    assertThatThrownBy(() -> topics.newTopics(4, (short) 1, clients, 1))
        .hasMessageContaining("got 1 ms: a round's chunks");
  }
}
