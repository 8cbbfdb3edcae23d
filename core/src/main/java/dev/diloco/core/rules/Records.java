package dev.diloco.core.rules;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.schemas.DeadLetterReason;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;

/** The first rule of every topic: a record's value must be a record of the topic's type. */
public final class Records {
  private Records() {}

  /** {@code value} as a {@code serde} record, or MALFORMED_RECORD saying why it is not one. */
  public static <T extends SpecificRecord> Verdict<T> decode(AvroSerde<T> serde, byte[] value) {
    if (value == null) {
      return Verdict.reject(DeadLetterReason.MALFORMED_RECORD, "a tombstone (no value) where a "
          + "record was expected");
    }
    try {
      return Verdict.accept(serde.decode(value));
    } catch (SerializationException e) {
      return Verdict.reject(DeadLetterReason.MALFORMED_RECORD, e.getMessage());
    }
  }
}
