package dev.diloco.core.sum;

import dev.diloco.core.codec.Fp16;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.SumEncoding;

/**
 * The exact sum of FP16 contributions. Every finite FP16 value is an integer multiple of 2^-24
 * below 2^16 in magnitude, i.e. an integer below 2^40 in units of 2^-24; a signed 64-bit
 * accumulator of such integers cannot overflow before 2^23 contributors, and integer addition
 * does not care about order.
 */
public final class FixedPointSum extends IntegerSum {

  /** The most contributors the accumulator takes without any risk of overflow. */
  public static final int MAX_CONTRIBUTORS = 1 << 23;

  /** The value of one unit of the accumulator. */
  static final double UNIT = 0x1p-24;

  /** Each finite half's value in units of 2^-24: an integer below 2^40 in magnitude. */
  private static final long[] UNITS = new long[1 << 16];

  static {
    for (int h = 0; h < UNITS.length; h++) {
      // v * 2^24 is exact in a float (only the exponent changes) and an integer, so exact as a
      // long; non-finite halves never get here.
      UNITS[h] = Fp16.isNonFinite((short) h) ? 0 : (long) (Fp16.toFloat((short) h) * 0x1p24f);
    }
  }

  public FixedPointSum(int elementCount) {
    super(elementCount, MAX_CONTRIBUTORS);
  }

  /** Bit-packed: a sum of pseudo-gradients costs 2 to 3 bytes an element instead of 8. */
  @Override
  public SumEncoding sumEncoding() {
    return SumEncoding.PACKED_Q24;
  }

  @Override
  int contributionBytes() {
    return units.length * 2;
  }

  @Override
  String chunkName() {
    return "an FP16 chunk";
  }

  @Override
  void check(String contributor, byte[] src, int off) {
    int bad = firstNonFinite(src, off, units.length);
    if (bad >= 0) {
      throw new ChunkRejectedException(DeadLetterReason.NON_FINITE,
          "element " + bad + " of " + contributor + "'s chunk is not finite");
    }
  }

  @Override
  void accumulate(byte[] src, int off) {
    for (int i = 0; i < units.length; i++) {
      units[i] += UNITS[(short) LittleEndian.SHORT.get(src, off + 2 * i) & 0xffff];
    }
  }

  /** Exact while the sum stays below 2^29 in magnitude: always, for up to 2^13 contributors. */
  @Override
  public void sumTo(double[] dst, int dstOff) {
    for (int i = 0; i < units.length; i++) {
      dst[dstOff + i] = units[i] * UNIT;
    }
  }

  @Override
  public int maxSumBytes() {
    return BitPacking.maxBytes(units.length);
  }

  @Override
  public int writeSum(byte[] dst, int dstOff) {
    return BitPacking.pack(units, dst, dstOff);
  }

  /** Index of the first infinite or NaN half, four at a time, or -1. */
  private static int firstNonFinite(byte[] src, int off, int count) {
    int i = 0;
    for (; i + 4 <= count; i += 4) {
      long w = (long) LittleEndian.LONG.get(src, off + 2 * i) & 0x7c00_7c00_7c00_7c00L;
      long t = w ^ 0x7c00_7c00_7c00_7c00L; // a lane is 0 where the exponent is all ones
      if (((t - 0x0001_0001_0001_0001L) & ~t & 0x8000_8000_8000_8000L) != 0) {
        break; // one of these four: find which below
      }
    }
    for (; i < count; i++) {
      if (Fp16.isNonFinite((short) LittleEndian.SHORT.get(src, off + 2 * i))) {
        return i;
      }
    }
    return -1;
  }
}
