package dev.diloco.core.rules;

import dev.diloco.schemas.ModelDescription;
import java.time.Duration;

/**
 * A round's deadline, set once for the run by its description ({@code roundTimeoutMs} after the
 * round's commit): the reducer closes the round then, summing what has a quorum or reporting the
 * round failed, and the optimizer acts on a failure report only once the deadline has passed.
 * So the one rule that both apply lives in the one record both trust; a report written early,
 * by anyone who can write the failures topic, costs no round.
 */
public record RoundDeadline(Duration timeout) {

  /**
   * The timeout of a run that does not set one, and of descriptions older than the field: the
   * schema's default, declared there once.
   */
  public static final Duration DEFAULT = Duration.ofMillis((Long) ModelDescription
      .getClassSchema().getField("roundTimeoutMs").defaultVal());
  /** The longest timeout a run may set: a round's records must outlive it on every topic. */
  public static final Duration LONGEST = Duration.ofDays(7);

  public RoundDeadline {
    if (timeout == null || timeout.isNegative() || timeout.isZero()
        || timeout.compareTo(LONGEST) > 0) {
      throw new IllegalArgumentException("a round timeout must be more than 0 and at most "
          + LONGEST.toDays() + " days, got " + timeout);
    }
  }

  /** The deadline of run {@code model}'s rounds; refuses one it cannot keep, naming it. */
  public static RoundDeadline of(ModelDescription model) {
    try {
      return new RoundDeadline(Duration.ofMillis(model.getRoundTimeoutMs()));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("run " + model.getRunId() + "'s description: "
          + e.getMessage(), e);
    }
  }

  /** When a round committed at {@code openedAtMs} closes, ms since the epoch. */
  public long at(long openedAtMs) {
    return openedAtMs + timeout.toMillis();
  }

  /** Whether the round committed at {@code openedAtMs} has closed by {@code nowMs}. */
  public boolean passed(long openedAtMs, long nowMs) {
    return nowMs >= at(openedAtMs);
  }
}
