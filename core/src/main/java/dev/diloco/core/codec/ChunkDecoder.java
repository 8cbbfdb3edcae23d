package dev.diloco.core.codec;

import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.DeadLetterReason;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * Checks a chunk payload and turns it back into elements, in buffers it keeps: one decoder per
 * thread, reused. Every payload is checked before anything reads its values: its length, its
 * decompression, its CRC32C, and its codec's check of every element (finite floats; scales and
 * codes in range). A payload that fails any check
 * throws {@link ChunkRejectedException} with the reason. Not thread-safe.
 */
public final class ChunkDecoder implements AutoCloseable {

  private final int maxElements;
  private final byte[] scratch;
  private final byte[] canonical;
  private final ZstdDecompressCtx zstd = new ZstdDecompressCtx();
  private final CRC32C crc = new CRC32C();

  /** {@code maxElements}: the largest chunk it accepts (the layout's chunk size). */
  public ChunkDecoder(int maxElements) {
    if (maxElements < 1) {
      throw new IllegalArgumentException("maxElements must be >= 1, got " + maxElements);
    }
    this.maxElements = maxElements;
    int bytes = Math.multiplyExact(maxElements, 4);
    this.scratch = new byte[bytes];
    this.canonical = new byte[bytes];
  }

  /** The largest chunk it accepts. */
  public int maxElements() {
    return maxElements;
  }

  /** Decodes a checked payload of {@code count} elements into {@code dst} from {@code dstOff}. */
  public void decode(ByteBuffer payload, PayloadFormat format, int count, int expectedCrc32c,
      float[] dst, int dstOff) {
    ByteBuffer bytes = canonical(payload, format, count, expectedCrc32c);
    format.codec().decode(bytes.array(), bytes.arrayOffset() + bytes.position(), count, dst, dstOff);
  }

  /**
   * The checked decoded payload: the encoded elements, little-endian and interleaved. The
   * returned buffer is array-backed and valid until this decoder's next call.
   */
  public ByteBuffer canonical(ByteBuffer payload, PayloadFormat format, int count,
      int expectedCrc32c) {
    if (count < 1 || count > maxElements) {
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the chunk says it holds "
          + count + " elements; chunks hold 1 to " + maxElements);
    }
    int length = format.decodedBytes(count);
    byte[] src;
    int srcOff;
    if (format.compression() == Compression.ZSTD) {
      src = scratch;
      srcOff = 0;
      decompress(payload, length);
    } else {
      if (payload.remaining() != length) {
        throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the payload has "
            + payload.remaining() + " bytes; " + count + " " + format.codec() + " elements take "
            + length);
      }
      if (payload.hasArray()) {
        src = payload.array();
        srcOff = payload.arrayOffset() + payload.position();
      } else {
        payload.duplicate().get(scratch, 0, length);
        src = scratch;
        srcOff = 0;
      }
    }
    if (format.bytePlanes()) {
      BytePlanes.join(src, srcOff, count, format.codec().planeWidth(), canonical, 0);
      src = canonical;
      srcOff = 0;
    }

    crc.reset();
    crc.update(src, srcOff, length);
    int actual = (int) crc.getValue();
    if (actual != expectedCrc32c) {
      throw new ChunkRejectedException(DeadLetterReason.CRC_MISMATCH, String.format(
          "CRC32C of the decoded payload is %08x, the chunk says %08x", actual, expectedCrc32c));
    }
    format.codec().check(src, srcOff, count);
    return ByteBuffer.wrap(src, srcOff, length).slice();
  }

  private void decompress(ByteBuffer payload, int expected) {
    byte[] in;
    int inOff;
    int inLen = payload.remaining();
    if (payload.hasArray()) {
      in = payload.array();
      inOff = payload.arrayOffset() + payload.position();
    } else {
      in = new byte[inLen]; // direct buffers only come from callers outside the hot path
      payload.duplicate().get(in);
      inOff = 0;
    }
    int produced;
    try {
      // The destination is bounded by what the layout allows: a payload that would inflate
      // beyond it fails here rather than exhausting memory.
      produced = zstd.decompressByteArray(scratch, 0, expected, in, inOff, inLen);
    } catch (ZstdException e) {
      if (e.getMessage() != null && e.getMessage().contains("too small")) {
        throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the zstd payload "
            + "inflates to more than the " + expected + " bytes the chunk header allows", e);
      }
      throw new ChunkRejectedException(DeadLetterReason.MALFORMED_RECORD,
          "the payload is not a valid zstd frame: " + e.getMessage(), e);
    }
    if (produced != expected) {
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the zstd payload "
          + "inflates to " + produced + " bytes, the chunk header needs " + expected);
    }
  }

  @Override
  public void close() {
    zstd.close();
  }
}
