package dev.diloco.core.kafka;

import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import java.nio.ByteBuffer;

/** Dead letters as every service writes them. */
public final class DeadLetters {
  private DeadLetters() {}

  /** How the reducer signs its dead letters ({@code rejectedBy}). */
  public static final String REDUCER = "reducer";
  /** How the outer optimizer signs its dead letters. */
  public static final String OPTIMIZER = "outer-optimizer";

  /**
   * A dead letter for the record at {@code topic}-{@code partition}@{@code offset} with
   * {@code key}, written by {@code rejectedBy} at {@code atMs}; the caller adds the run, round,
   * worker and chunk where it could read them. A key or detail longer than a dead letter holds
   * is cut to fit, so that no record, however long its key, stops the one who refuses it.
   */
  public static DeadLetter.Builder of(String topic, int partition, long offset, byte[] key,
      DeadLetterReason reason, String detail, String rejectedBy, long atMs) {
    return DeadLetter.newBuilder()
        .setOriginalTopic(topic).setOriginalPartition(partition).setOriginalOffset(offset)
        .setOriginalKey(key == null ? null
            : ByteBuffer.wrap(WireBounds.fit(DeadLetter.SCHEMA$, "originalKey", key)))
        .setReason(reason)
        .setDetail(WireBounds.fit(DeadLetter.SCHEMA$, "detail", String.valueOf(detail)))
        .setRejectedBy(rejectedBy).setRejectedAtMs(atMs);
  }
}
