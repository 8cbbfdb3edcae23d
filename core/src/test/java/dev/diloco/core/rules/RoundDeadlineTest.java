package dev.diloco.core.rules;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.ModelDescription;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class RoundDeadlineTest {

  private static final ModelDescription RUN = TestRuns.description("r",
      ParameterLayout.builder().add("w", 4).build(), 2);

  @Test
  void aRoundClosesItsTimeoutAfterItsCommitAndNotAMillisecondBefore() {
    RoundDeadline deadline = RoundDeadline.of(ModelDescription.newBuilder(RUN)
        .setRoundTimeoutMs(90_000).build());
    assertThat(deadline.at(1_000)).isEqualTo(91_000);
    assertThat(deadline.passed(1_000, 90_999)).isFalse();
    assertThat(deadline.passed(1_000, 91_000)).isTrue();
  }

  @Test
  void aDescriptionThatSetsNoneHasThirtyMinutes() {
    assertThat(RoundDeadline.of(RUN).timeout()).isEqualTo(Duration.ofMinutes(30))
        .isEqualTo(RoundDeadline.DEFAULT);
  }

  @Test
  void aTimeoutOfNothingANegativeOneOrMoreThanAWeekIsRefusedByName() {
    for (long ms : new long[] {0, -1, Duration.ofDays(7).toMillis() + 1, Long.MAX_VALUE}) {
      assertThatThrownBy(() -> RoundDeadline.of(ModelDescription.newBuilder(RUN)
          .setRoundTimeoutMs(ms).build()))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("run r's description: a round timeout must be more than 0 "
              + "and at most 7 days, got ");
    }
    assertThat(new RoundDeadline(Duration.ofDays(7)).timeout()).isEqualTo(Duration.ofDays(7));
  }
}
