package dev.diloco.core.sum;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import java.nio.ByteBuffer;

/**
 * Signed longs, zigzag-encoded and bit-packed at the width of the widest of them: one byte
 * with the width (0 to 64), then the values' low bits as a little-endian bit stream. Exact, and
 * without a branch per value; a chunk of pseudo-gradient sums packs to 2 to 3 bytes a value.
 */
final class BitPacking {

  private BitPacking() {}

  /** The most bytes {@code count} values take. */
  static int maxBytes(int count) {
    return Math.addExact(1, Math.multiplyExact(count, 8));
  }

  /** Packs {@code values} at {@code dst[at]}; returns the bytes written. */
  static int pack(long[] values, byte[] dst, int at) {
    return pack(values, values.length, dst, at);
  }

  /** Packs the first {@code count} of {@code values} at {@code dst[at]}; returns its bytes. */
  static int pack(long[] values, int count, byte[] dst, int at) {
    long all = 0;
    for (int i = 0; i < count; i++) {
      all |= zigzag(values[i]);
    }
    int bits = 64 - Long.numberOfLeadingZeros(all);
    int start = at;
    dst[at++] = (byte) bits;
    if (bits == 0) {
      return 1;
    }
    long acc = 0;
    int filled = 0;
    for (int i = 0; i < count; i++) {
      long z = zigzag(values[i]);
      acc |= z << filled;
      filled += bits;
      if (filled >= 64) {
        LittleEndian.LONG.set(dst, at, acc);
        at += 8;
        filled -= 64;
        acc = filled == 0 ? 0 : z >>> (bits - filled);
      }
    }
    for (int b = 0; b < (filled + 7) / 8; b++) {
      dst[at++] = (byte) (acc >>> (8 * b));
    }
    return at - start;
  }

  /** Unpacks exactly {@code count} values, each times {@code unit}, into {@code dst}. */
  static void unpack(ByteBuffer src, int count, double[] dst, int dstOff, double unit) {
    ByteBuffer in = src.duplicate();
    read(in, count, dst, dstOff, unit);
    if (in.hasRemaining()) {
      int bits = src.get(src.position()) & 0xff;
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the sum has "
          + (src.remaining() - 1) + " bytes of values; " + count + " values of " + bits
          + " bits take " + ((long) count * bits + 7) / 8);
    }
  }

  /**
   * Reads {@code count} packed values, each times {@code unit}, into {@code dst}, and moves
   * {@code in} past them.
   */
  static void read(ByteBuffer in, int count, double[] dst, int dstOff, double unit) {
    if (!in.hasRemaining()) {
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the sum is empty");
    }
    int bits = in.get() & 0xff;
    if (bits > 64) {
      throw new ChunkRejectedException(DeadLetterReason.MALFORMED_RECORD,
          "the sum says its values are " + bits + " bits wide; at most 64 are");
    }
    long expected = ((long) count * bits + 7) / 8;
    if (in.remaining() < expected) {
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the sum has "
          + in.remaining() + " bytes of values; " + count + " values of " + bits + " bits take "
          + expected);
    }
    ByteBuffer values = in.slice().limit((int) expected);
    in.position(in.position() + (int) expected);
    long mask = bits == 64 ? -1L : (1L << bits) - 1;
    long acc = 0;
    int available = 0; // bits in acc not yet used
    for (int i = 0; i < count; i++) {
      long z;
      if (bits == 0) {
        z = 0;
      } else if (available >= bits) {
        z = acc & mask;
        acc = bits == 64 ? 0 : acc >>> bits;
        available -= bits;
      } else {
        long next = nextWord(values);
        z = (acc | (next << available)) & mask;
        int used = bits - available; // bits taken from next
        acc = used == 64 ? 0 : next >>> used;
        available = 64 - used;
      }
      dst[dstOff + i] = unzigzag(z) * unit;
    }
  }

  private static long nextWord(ByteBuffer in) {
    long w = 0;
    int n = Math.min(8, in.remaining());
    for (int b = 0; b < n; b++) {
      w |= (in.get() & 0xffL) << (8 * b);
    }
    return w;
  }

  private static long zigzag(long v) {
    return (v << 1) ^ (v >> 63);
  }

  private static long unzigzag(long z) {
    return (z >>> 1) ^ -(z & 1);
  }
}
