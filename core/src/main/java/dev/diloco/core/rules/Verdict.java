package dev.diloco.core.rules;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import java.util.Objects;
import java.util.function.Function;

/**
 * What a rule decided about a record: take it (with what the checks made of it), wait for it
 * (what it needs has not arrived yet), or reject it with the reason that goes to the
 * dead-letter topic. The reducer, the optimizer and the replay act on the same verdicts.
 */
public sealed interface Verdict<T> {

  /** The record may enter the computation, as {@code value}. */
  record Accept<T>(T value) implements Verdict<T> {}

  /**
   * Not yet: the record may be good, but what it needs has not reached this service yet (its
   * worker's membership of the round, or the round's commit); {@code reason} is the rejection
   * if it never does.
   */
  record Wait<T>(DeadLetterReason reason, String why) implements Verdict<T> {
    public Wait {
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(why, "why");
    }
  }

  /** Never: the reason for machines, and a detail for people that names the bad value. */
  record Reject<T>(DeadLetterReason reason, String detail) implements Verdict<T> {
    public Reject {
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(detail, "detail");
    }

    /** {@code REASON: detail}, as dead letters and logs say it. */
    public String message() {
      return reason + ": " + detail;
    }

    /** The same rejection, as a verdict on something else. */
    @SuppressWarnings("unchecked")
    public <U> Reject<U> as() {
      return (Reject<U>) this;
    }
  }

  static <T> Verdict<T> accept(T value) {
    return new Accept<>(value);
  }

  static <T> Verdict<T> reject(DeadLetterReason reason, String detail) {
    return new Reject<>(reason, detail);
  }

  /** The rejection a lower-level check threw, as a value. */
  static <T> Verdict<T> of(ChunkRejectedException e) {
    return new Reject<>(e.reason(), e.detail());
  }

  default boolean accepted() {
    return this instanceof Accept;
  }

  /** The accepted value; only for a verdict known to be an {@link Accept}. */
  default T value() {
    if (this instanceof Accept<T> a) {
      return a.value();
    }
    throw new IllegalStateException("not accepted: " + this);
  }

  /** Goes on with the accepted value; a wait or a rejection stays what it is. */
  @SuppressWarnings("unchecked")
  default <U> Verdict<U> then(Function<? super T, Verdict<U>> next) {
    if (this instanceof Accept<T> a) {
      return next.apply(a.value());
    }
    return (Verdict<U>) this;
  }
}
