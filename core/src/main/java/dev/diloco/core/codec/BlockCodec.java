package dev.diloco.core.codec;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.TensorEncoding;

/**
 * INT8 and INT4 codes with one power-of-two scale per block of {@code blockSize} elements
 * (blocks start at a chunk's first element; the last may be shorter). Element i of block b is
 * {@code code[i] * 2^e[b]}: an integer multiple of 2^{@value #MIN_EXPONENT}, so sums of them are
 * exact in a 64-bit integer whatever the order (the {@code BlockSum} of core's sum package).
 *
 * <p>Layout of n elements: one signed byte per block, its exponent e in [{@value #MIN_EXPONENT},
 * {@value #MAX_EXPONENT}]; then the codes, one signed byte each (INT8, -127..127) or two to a
 * byte, the element of even index in the low nibble (INT4, -7..7; the unused high nibble of an
 * odd count is 0). Codes are symmetric: -128 and -8 are not codes.
 *
 * <p>A block takes the smallest exponent whose codes hold its largest magnitude, and each value
 * rounds to the nearest code, ties to even: deterministic, so a replay encodes the same codes, and
 * a value is off by at most half its block's step 2^e. A block whose largest magnitude exceeds
 * {@code maxCode * 2^MAX_EXPONENT} (127 for INT8, 7 for INT4) is clamped; error feedback carries
 * the rest. There is no code for NaN or an infinity: encoding one throws.
 */
public record BlockCodec(TensorEncoding encoding, int blockSize) implements ElementCodec {

  /** The finest scale: values below 2^-41 in magnitude round to 0. */
  public static final int MIN_EXPONENT = -40;
  /** The coarsest scale. */
  public static final int MAX_EXPONENT = 0;
  public static final int MIN_BLOCK = 8;
  public static final int MAX_BLOCK = 4096;
  /** Elements per scale unless a run says otherwise: one byte of scale per 64 codes. */
  public static final int DEFAULT_BLOCK = 64;

  public BlockCodec {
    if (encoding != TensorEncoding.INT8 && encoding != TensorEncoding.INT4) {
      throw new IllegalArgumentException("a block codec is INT8 or INT4, not " + encoding);
    }
    if (blockSize < MIN_BLOCK || blockSize > MAX_BLOCK) {
      throw new ChunkRejectedException(DeadLetterReason.LAYOUT_MISMATCH, "block size "
          + blockSize + " is not in [" + MIN_BLOCK + ", " + MAX_BLOCK + "]");
    }
  }

  /** The largest code's magnitude: 127 (INT8) or 7 (INT4). */
  public int maxCode() {
    return encoding == TensorEncoding.INT8 ? 127 : 7;
  }

  public int blocks(int count) {
    return (count + blockSize - 1) / blockSize;
  }

  @Override
  public int encodedBytes(int count) {
    long codes = encoding == TensorEncoding.INT8 ? count : (count + 1L) / 2;
    return Math.toIntExact(blocks(count) + codes);
  }

  @Override
  public int planeWidth() {
    return 0;
  }

  @Override
  public void encode(float[] src, int srcOff, int count, byte[] dst, int dstOff) {
    int codes = dstOff + blocks(count);
    if (encoding == TensorEncoding.INT4) {
      java.util.Arrays.fill(dst, codes, dstOff + encodedBytes(count), (byte) 0);
    }
    int max = maxCode();
    for (int b = 0, from = 0; from < count; b++, from += blockSize) {
      int n = Math.min(blockSize, count - from);
      int e = exponent(src, srcOff + from, n, max);
      dst[dstOff + b] = (byte) e;
      for (int i = from; i < from + n; i++) {
        int code = (int) Math.max(-max, Math.min(max, Math.rint(Math.scalb(src[srcOff + i], -e))));
        put(dst, codes, i, code);
      }
    }
  }

  @Override
  public void decode(byte[] src, int srcOff, int count, float[] dst, int dstOff) {
    int codes = srcOff + blocks(count);
    for (int i = 0; i < count; i++) {
      dst[dstOff + i] = Math.scalb((float) code(src, codes, i), src[srcOff + i / blockSize]);
    }
  }

  @Override
  public void check(byte[] src, int srcOff, int count) {
    int blocks = blocks(count);
    for (int b = 0; b < blocks; b++) {
      int e = src[srcOff + b];
      if (e < MIN_EXPONENT || e > MAX_EXPONENT) {
        throw new ChunkRejectedException(DeadLetterReason.SCALE_OUT_OF_RANGE, "block " + b
            + " has scale 2^" + e + "; " + encoding + " scales are 2^" + MIN_EXPONENT
            + " to 2^" + MAX_EXPONENT);
      }
    }
    int codes = srcOff + blocks;
    int max = maxCode();
    for (int i = 0; i < count; i++) {
      int code = code(src, codes, i);
      if (code < -max || code > max) {
        throw new ChunkRejectedException(DeadLetterReason.CODE_OUT_OF_RANGE, "element " + i
            + " has code " + code + "; " + encoding + " codes are -" + max + " to " + max);
      }
    }
    if (encoding == TensorEncoding.INT4 && count % 2 == 1 && (src[codes + count / 2] & 0xf0) != 0) {
      throw new ChunkRejectedException(DeadLetterReason.CODE_OUT_OF_RANGE, "the unused high "
          + "nibble after the last of " + count + " INT4 codes is not 0");
    }
  }

  /** Code {@code i} of the codes at {@code src[codes]}. */
  public int code(byte[] src, int codes, int i) {
    if (encoding == TensorEncoding.INT8) {
      return src[codes + i];
    }
    int b = src[codes + (i >> 1)];
    return (i & 1) == 0 ? (b << 28) >> 28 : b >> 4; // sign-extend the nibble
  }

  @Override
  public String toString() {
    return encoding + " (blocks of " + blockSize + ")";
  }

  private void put(byte[] dst, int codes, int i, int code) {
    if (encoding == TensorEncoding.INT8) {
      dst[codes + i] = (byte) code;
    } else {
      int at = codes + (i >> 1);
      dst[at] = (byte) ((i & 1) == 0 ? (dst[at] & 0xf0) | (code & 0xf)
          : (dst[at] & 0x0f) | (code << 4));
    }
  }

  /**
   * The smallest exponent in range whose codes hold the block's largest magnitude after
   * rounding; {@link #MIN_EXPONENT} for a block of zeros.
   */
  private static int exponent(float[] src, int off, int n, int max) {
    float largest = 0;
    for (int i = off; i < off + n; i++) {
      if (!Float.isFinite(src[i])) {
        // No code stands for it, and a zero would hide a diverged worker.
        throw new IllegalArgumentException("element " + (i - off) + " of a block to encode is "
            + src[i]);
      }
      largest = Math.max(largest, Math.abs(src[i]));
    }
    if (largest == 0) {
      return MIN_EXPONENT;
    }
    // 2^(getExponent - 7) <= largest / 128 < largest / max: a first guess no larger than the
    // answer.
    int e = Math.max(MIN_EXPONENT, Math.getExponent(largest) - 7);
    while (e < MAX_EXPONENT && Math.rint(Math.scalb(largest, -e)) > max) {
      e++;
    }
    return e;
  }
}
