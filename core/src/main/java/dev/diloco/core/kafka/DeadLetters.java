package dev.diloco.core.kafka;

import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import java.nio.ByteBuffer;

/** Dead letters as every service writes them. */
public final class DeadLetters {
  private DeadLetters() {}

  /**
   * A dead letter for the record at {@code topic}-{@code partition}@{@code offset} with
   * {@code key}; the caller adds the run, round, worker and chunk where it could read them.
   */
  public static DeadLetter.Builder of(String topic, int partition, long offset, byte[] key,
      DeadLetterReason reason, String detail, String rejectedBy) {
    return DeadLetter.newBuilder()
        .setOriginalTopic(topic).setOriginalPartition(partition).setOriginalOffset(offset)
        .setOriginalKey(key == null ? null : ByteBuffer.wrap(key))
        .setReason(reason).setDetail(String.valueOf(detail))
        .setRejectedBy(rejectedBy).setRejectedAtMs(System.currentTimeMillis());
  }
}
