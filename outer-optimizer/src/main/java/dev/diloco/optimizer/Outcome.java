package dev.diloco.optimizer;

import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.RoundCommit;
import java.util.Map;

/**
 * What a poll of the outer optimizer came to, and what became of publishing a round: every
 * path is a value (after torchft, where a round that fails to commit is an outcome, not an
 * exception), so a caller's loop reads as one switch.
 */
public sealed interface Outcome {

  /** No round was completed. */
  record Idle() implements Outcome {}

  /**
   * Round {@code commit} is on the log, with {@code deadLetters}: how many records of each
   * reason the optimizer refused in the same transaction (empty for most rounds).
   */
  record Committed(RoundCommit commit, Map<DeadLetterReason, Integer> deadLetters)
      implements Outcome {
    public Committed {
      deadLetters = Map.copyOf(deadLetters);
    }
  }

  /**
   * Publishing round {@code round} aborted ({@code cause}): nothing of it is visible, and the
   * optimizer went back to the last committed round to read its sums again.
   */
  record Aborted(int round, Exception cause) implements Outcome {}

  /**
   * Another optimizer of run {@code runId} has taken over (its transactional id fenced this
   * one, {@code cause}): this one publishes nothing more and is to be closed.
   */
  record Fenced(String runId, Exception cause) implements Outcome {
    /** What a person is told. */
    public String message() {
      return "another outer optimizer for run " + runId + " has taken over; this one stops";
    }
  }
}
