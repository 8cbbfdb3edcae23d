package dev.diloco.core.layout;

import dev.diloco.schemas.DeadLetterReason;
import java.util.Objects;

/**
 * A chunk that must not enter the computation, with the machine-readable reason that goes to
 * the dead-letter topic and a message that names the bad value.
 */
public class ChunkRejectedException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  private final DeadLetterReason reason;
  private final String detail;

  public ChunkRejectedException(DeadLetterReason reason, String detail) {
    super(reason + ": " + detail);
    this.reason = Objects.requireNonNull(reason, "reason");
    this.detail = detail;
  }

  public ChunkRejectedException(DeadLetterReason reason, String detail, Throwable cause) {
    this(reason, detail);
    initCause(cause);
  }

  public DeadLetterReason reason() {
    return reason;
  }

  /** What is wrong, without the reason in front. */
  public String detail() {
    return detail;
  }
}
