package dev.diloco.core.kafka;

import dev.diloco.schemas.DeadLetter;

/**
 * Where a record lies: its topic, partition and offset. What a dead letter names, what the
 * replay and the optimizer look records up by.
 */
public record RecordPlace(String topic, int partition, long offset) {

  /** The place of the record that {@code letter} refused. */
  public static RecordPlace refusedBy(DeadLetter letter) {
    return new RecordPlace(letter.getOriginalTopic(), letter.getOriginalPartition(),
        letter.getOriginalOffset());
  }

  @Override
  public String toString() {
    return topic + "-" + partition + "@" + offset;
  }
}
