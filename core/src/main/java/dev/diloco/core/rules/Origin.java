package dev.diloco.core.rules;

import dev.diloco.core.kafka.RunTopics;
import dev.diloco.schemas.DeadLetterReason;

/**
 * Who may speak for a worker: on a worker's own topic, which only its principal may write
 * (with ACLs), a record must name that worker. It is what stops one worker from sending chunks,
 * or announcing joins and leaves, under another's name; on the shared topics anyone may, and
 * the record is taken at its word.
 */
public final class Origin {
  private Origin() {}

  /**
   * PRINCIPAL_MISMATCH when {@code topic} is a worker's own and {@code what} (a chunk, a
   * heartbeat), {@code value}, names another worker, {@code workerId}; else {@code value}.
   */
  public static <T> Verdict<T> check(RunTopics topics, String topic, String what,
      String workerId, T value) {
    String owner = topics.workerOf(topic).orElse(null);
    if (owner != null && !owner.equals(workerId)) {
      return Verdict.reject(DeadLetterReason.PRINCIPAL_MISMATCH, "the " + what + " names worker "
          + workerId + " but came on " + topic + ", which only worker " + owner
          + "'s principal may write");
    }
    return Verdict.accept(value);
  }
}
