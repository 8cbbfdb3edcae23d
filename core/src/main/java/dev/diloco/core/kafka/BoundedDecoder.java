package dev.diloco.core.kafka;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.Decoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.util.Utf8;

/**
 * Avro's binary decoder over one record's bytes, that refuses any length or count the bytes
 * cannot hold before anything is allocated for it. Avro allocates what a record claims: a
 * 34-byte record that claims a payload of 2^31 bytes, or an array of 2^31 items, would exhaust
 * the heap, and an {@link OutOfMemoryError} passes every catch of a bad record. Here a claim
 * beyond the bytes left is an {@link AvroRuntimeException} like any other malformed record.
 *
 * <p>No string is longer than {@link WireBounds#MAX_STRING_BYTES}, whatever it claims.
 *
 * <p>An item of an array or map takes at least one byte in every schema of this project (none
 * has arrays of nulls or of empty records), so a count above the bytes left is a lie too.
 */
final class BoundedDecoder extends Decoder {

  private final ByteArrayInputStream in;
  private final BinaryDecoder binary;

  BoundedDecoder(byte[] bytes, int offset, int length) {
    this.in = new ByteArrayInputStream(bytes, offset, length);
    // Direct: it reads from the stream as it goes, so the stream knows the bytes left.
    this.binary = DecoderFactory.get().directBinaryDecoder(in, null);
  }

  private int claim(long claimed, String what) {
    if (claimed < 0 || claimed > in.available()) {
      throw new AvroRuntimeException("the record claims " + what + " of " + claimed
          + " where " + in.available() + " bytes are left");
    }
    return (int) claimed;
  }

  private byte[] lengthPrefixed(String what) throws IOException {
    byte[] bytes = new byte[claim(binary.readLong(), what)];
    binary.readFixed(bytes, 0, bytes.length);
    return bytes;
  }

  private byte[] string() throws IOException {
    long claimed = binary.readLong();
    if (claimed > WireBounds.MAX_STRING_BYTES) {
      throw new AvroRuntimeException("the record holds a string of " + claimed + " bytes; no "
          + "field allows more than " + WireBounds.MAX_STRING_BYTES);
    }
    byte[] bytes = new byte[claim(claimed, "a string")];
    binary.readFixed(bytes, 0, bytes.length);
    return bytes;
  }

  @Override
  public Utf8 readString(Utf8 old) throws IOException {
    return new Utf8(string());
  }

  @Override
  public String readString() throws IOException {
    return new Utf8(string()).toString();
  }

  @Override
  public void skipString() throws IOException {
    binary.skipFixed(claim(binary.readLong(), "a string"));
  }

  @Override
  public ByteBuffer readBytes(ByteBuffer old) throws IOException {
    return ByteBuffer.wrap(lengthPrefixed("bytes"));
  }

  @Override
  public void skipBytes() throws IOException {
    binary.skipFixed(claim(binary.readLong(), "bytes"));
  }

  @Override
  public long readArrayStart() throws IOException {
    return claim(binary.readArrayStart(), "an array block of items");
  }

  @Override
  public long arrayNext() throws IOException {
    return claim(binary.arrayNext(), "an array block of items");
  }

  @Override
  public long readMapStart() throws IOException {
    return claim(binary.readMapStart(), "a map block of entries");
  }

  @Override
  public long mapNext() throws IOException {
    return claim(binary.mapNext(), "a map block of entries");
  }

  @Override
  public long skipArray() throws IOException {
    return binary.skipArray();
  }

  @Override
  public long skipMap() throws IOException {
    return binary.skipMap();
  }

  @Override
  public void readNull() throws IOException {
    binary.readNull();
  }

  @Override
  public boolean readBoolean() throws IOException {
    return binary.readBoolean();
  }

  @Override
  public int readInt() throws IOException {
    return binary.readInt();
  }

  @Override
  public long readLong() throws IOException {
    return binary.readLong();
  }

  @Override
  public float readFloat() throws IOException {
    return binary.readFloat();
  }

  @Override
  public double readDouble() throws IOException {
    return binary.readDouble();
  }

  @Override
  public void readFixed(byte[] bytes, int start, int length) throws IOException {
    binary.readFixed(bytes, start, length);
  }

  @Override
  public void skipFixed(int length) throws IOException {
    binary.skipFixed(length);
  }

  @Override
  public int readEnum() throws IOException {
    return binary.readEnum();
  }

  @Override
  public int readIndex() throws IOException {
    return binary.readIndex();
  }
}
