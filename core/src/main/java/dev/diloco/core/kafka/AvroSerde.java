package dev.diloco.core.kafka;

import dev.diloco.schemas.SchemaHistory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.io.DatumReader;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka serde for an Avro record type, in Avro's single-object encoding: each value starts with
 * the fingerprint of the schema that wrote it, and the reader resolves every released version
 * ({@link SchemaHistory}), so a log stays readable after the schemas evolve. No schema registry
 * is needed. A null value (a tombstone) stays null.
 *
 * <p>Decoding never allocates more than the record's bytes can hold ({@link BoundedDecoder}):
 * whatever a record claims, a bad one is a {@link SerializationException}, never an
 * {@link OutOfMemoryError}. A record beyond its schema's bounds ({@link WireBounds}) is neither
 * read nor written.
 */
public final class AvroSerde<T extends SpecificRecord> implements Serde<T> {

  /** Avro's single-object encoding: a marker, then the writer schema's 64-bit fingerprint. */
  private static final byte[] MARKER = {(byte) 0xC3, 0x01};
  private static final int HEADER_BYTES = MARKER.length + 8;
  /** The fingerprints of every released version of each type, by type. */
  private static final Map<Class<?>, java.util.Set<Long>> FINGERPRINTS =
      new ConcurrentHashMap<>();

  private final Class<T> type;
  private final SpecificData model;
  private final Schema schema;
  private final BinaryMessageEncoder<T> encoder;
  /** A reader per writer schema, by fingerprint: resolving one is costly, reading is not. */
  private final Map<Long, DatumReader<T>> readers = new ConcurrentHashMap<>();

  private AvroSerde(Class<T> type) {
    this.type = type;
    this.model = SpecificData.getForClass(type);
    this.schema = model.getSchema(type);
    this.encoder = new BinaryMessageEncoder<>(model, schema);
  }

  public static <T extends SpecificRecord> AvroSerde<T> of(Class<T> type) {
    return new AvroSerde<>(type);
  }

  public byte[] encode(T value) {
    try {
      ByteBuffer buffer = encoder.encode(WireBounds.check(value));
      byte[] bytes = new byte[buffer.remaining()];
      buffer.get(bytes);
      return bytes;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (AvroRuntimeException | NullPointerException | ClassCastException e) {
      throw new SerializationException("cannot encode this " + type.getSimpleName() + ": "
          + e.getMessage(), e);
    }
  }

  /** Decodes a value; what is not a valid record of this type is a SerializationException. */
  public T decode(byte[] bytes) {
    try {
      if (bytes.length < HEADER_BYTES || bytes[0] != MARKER[0] || bytes[1] != MARKER[1]) {
        throw new AvroRuntimeException("it does not start with Avro's single-object marker and "
            + "a schema fingerprint");
      }
      long fingerprint = ByteBuffer.wrap(bytes, MARKER.length, 8)
          .order(ByteOrder.LITTLE_ENDIAN).getLong();
      DatumReader<T> reader = readers.computeIfAbsent(fingerprint, this::readerFor);
      return WireBounds.check(reader.read(null, new BoundedDecoder(bytes, HEADER_BYTES,
          bytes.length - HEADER_BYTES)));
    } catch (IOException | RuntimeException e) {
      // Decoding is a function of the bytes alone: whatever fails on them, they are not a
      // record of this type (Avro's own limits throw UnsupportedOperationException, say).
      throw new SerializationException("cannot decode a " + type.getSimpleName() + " from "
          + bytes.length + " bytes: " + e.getMessage(), e);
    }
  }

  /**
   * Whether {@code bytes} were written as a record of this type, by any released version of
   * it: what the header says, before anything is decoded. A topic that carries two types (a
   * worker's own topic: its chunks and its heartbeats) is sorted by this.
   */
  public boolean isWrittenAs(byte[] bytes) {
    if (bytes == null || bytes.length < HEADER_BYTES || bytes[0] != MARKER[0]
        || bytes[1] != MARKER[1]) {
      return false;
    }
    return fingerprints().contains(ByteBuffer.wrap(bytes, MARKER.length, 8)
        .order(ByteOrder.LITTLE_ENDIAN).getLong());
  }

  private java.util.Set<Long> fingerprints() {
    return FINGERPRINTS.computeIfAbsent(type, t -> SchemaHistory.versions(schema.getName())
        .stream().map(SchemaNormalization::parsingFingerprint64)
        .collect(java.util.stream.Collectors.toUnmodifiableSet()));
  }

  private DatumReader<T> readerFor(long fingerprint) {
    Schema writer = SchemaHistory.schemaStore().findByFingerprint(fingerprint);
    if (writer == null) {
      throw new AvroRuntimeException(String.format("no released schema has the fingerprint "
          + "%016x", fingerprint));
    }
    return new SpecificDatumReader<>(writer, schema, model);
  }

  @Override
  public Serializer<T> serializer() {
    return (topic, value) -> value == null ? null : encode(value);
  }

  @Override
  public Deserializer<T> deserializer() {
    return (topic, bytes) -> bytes == null ? null : decode(bytes);
  }
}
