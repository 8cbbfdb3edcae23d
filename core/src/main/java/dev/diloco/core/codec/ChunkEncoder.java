package dev.diloco.core.codec;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import dev.diloco.schemas.Compression;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * Turns a range of a {@code float[]} into a chunk payload and its CRC32C, in buffers it keeps:
 * one encoder per thread, reused for every chunk. Not thread-safe. Close it to free zstd's
 * native context.
 */
public final class ChunkEncoder implements AutoCloseable {

  /** What {@link #encode} made: valid until the encoder's next call. */
  public record Encoded(ByteBuffer payload, int crc32c) {}

  private final PayloadFormat format;
  private final int maxElements;
  private final byte[] encoded;
  private final byte[] planes;
  private final byte[] compressed;
  private final ZstdCompressCtx zstd;
  private final CRC32C crc = new CRC32C();

  /** Level 1: pseudo-gradients barely compress, so a faster level loses little. */
  public ChunkEncoder(PayloadFormat format, int maxElements) {
    this(format, maxElements, 1);
  }

  public ChunkEncoder(PayloadFormat format, int maxElements, int zstdLevel) {
    if (maxElements < 1) {
      throw new IllegalArgumentException("maxElements must be >= 1, got " + maxElements);
    }
    this.format = format;
    this.maxElements = maxElements;
    int bytes = format.decodedBytes(maxElements);
    this.encoded = new byte[bytes];
    this.planes = format.bytePlanes() ? new byte[bytes] : null;
    if (format.compression() == Compression.ZSTD) {
      this.compressed = new byte[Math.toIntExact(Zstd.compressBound(bytes))];
      this.zstd = new ZstdCompressCtx().setLevel(zstdLevel).setChecksum(false);
    } else {
      this.compressed = null;
      this.zstd = null;
    }
  }

  public PayloadFormat format() {
    return format;
  }

  public Encoded encode(float[] src, int offset, int count) {
    if (count < 1 || count > maxElements) {
      throw new IllegalArgumentException("count must be in [1, " + maxElements + "], got " + count);
    }
    int length = format.decodedBytes(count);
    format.codec().encode(src, offset, count, encoded, 0);
    crc.reset();
    crc.update(encoded, 0, length);
    int checksum = (int) crc.getValue();

    byte[] out = encoded;
    if (planes != null) {
      BytePlanes.split(encoded, 0, count, format.codec().planeWidth(), planes, 0);
      out = planes;
    }
    if (zstd != null) {
      length = zstd.compressByteArray(compressed, 0, compressed.length, out, 0, length);
      out = compressed;
    }
    return new Encoded(ByteBuffer.wrap(out, 0, length), checksum);
  }

  @Override
  public void close() {
    if (zstd != null) {
      zstd.close();
    }
  }
}
