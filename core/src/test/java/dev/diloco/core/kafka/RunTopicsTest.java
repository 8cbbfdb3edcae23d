package dev.diloco.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
}
