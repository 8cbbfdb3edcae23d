package dev.diloco.core.codec;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/** CRC32C over payloads: the check every chunk carries. */
public final class Checksums {
  private Checksums() {}

  public static int crc32c(byte[] bytes, int offset, int length) {
    CRC32C crc = new CRC32C();
    crc.update(bytes, offset, length);
    return (int) crc.getValue();
  }

  /** CRC32C of the buffer's remaining bytes; the buffer's position is left as it was. */
  public static int crc32c(ByteBuffer bytes) {
    CRC32C crc = new CRC32C();
    crc.update(bytes.duplicate());
    return (int) crc.getValue();
  }
}
