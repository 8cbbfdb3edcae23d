package dev.diloco.core.sum;

import dev.diloco.core.codec.BlockCodec;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.SumEncoding;
import java.nio.ByteBuffer;

/**
 * The exact sum of INT8 or INT4 contributions ({@link BlockCodec}). Each element is a code of at
 * most 7 bits times a scale 2^e with e in [-40, 0]: an integer below 2^47 in units of 2^-40, so a
 * signed 64-bit accumulator takes 2^15 contributors without overflow, in any order.
 *
 * <p>Written as PACKED_BLOCKS: per block, the largest power of two that divides all of its sums
 * is taken out as the block's unit, and what is left is bit-packed at the block's width, so a sum
 * of W workers with equal scales costs about the code's bits plus log2(W) an element.
 */
public final class BlockSum extends IntegerSum {

  /** The most contributors the accumulator takes without any risk of overflow. */
  public static final int MAX_CONTRIBUTORS = 1 << 15;

  private final BlockCodec codec;

  public BlockSum(BlockCodec codec, int elementCount) {
    super(elementCount, MAX_CONTRIBUTORS);
    this.codec = codec;
  }

  @Override
  public SumEncoding sumEncoding() {
    return SumEncoding.PACKED_BLOCKS;
  }

  @Override
  int contributionBytes() {
    return codec.encodedBytes(units.length);
  }

  @Override
  String chunkName() {
    return "a chunk of " + codec;
  }

  @Override
  void check(String contributor, byte[] src, int off) {
    codec.check(src, off, units.length);
  }

  @Override
  void accumulate(byte[] src, int off) {
    int codes = off + codec.blocks(units.length);
    for (int i = 0; i < units.length; i++) {
      int shift = src[off + i / codec.blockSize()] - BlockCodec.MIN_EXPONENT;
      units[i] += (long) codec.code(src, codes, i) << shift;
    }
  }

  @Override
  public void sumTo(double[] dst, int dstOff) {
    for (int i = 0; i < units.length; i++) {
      dst[dstOff + i] = Math.scalb((double) units[i], BlockCodec.MIN_EXPONENT);
    }
  }

  @Override
  public int maxSumBytes() {
    return Math.addExact(2 + 2 * codec.blocks(units.length), Math.multiplyExact(units.length, 8));
  }

  @Override
  public int writeSum(byte[] dst, int dstOff) {
    int at = dstOff;
    LittleEndian.SHORT.set(dst, at, (short) codec.blockSize());
    at += 2;
    long[] block = new long[codec.blockSize()];
    for (int from = 0; from < units.length; from += codec.blockSize()) {
      int n = Math.min(codec.blockSize(), units.length - from);
      long all = 0;
      for (int i = 0; i < n; i++) {
        all |= units[from + i];
      }
      // A block of zeros keeps the finest unit; its width is 0 whatever the unit.
      int shift = all == 0 ? 0 : Long.numberOfTrailingZeros(all);
      for (int i = 0; i < n; i++) {
        block[i] = units[from + i] >> shift;
      }
      dst[at++] = (byte) (BlockCodec.MIN_EXPONENT + shift);
      at += BitPacking.pack(block, n, dst, at);
    }
    return at - dstOff;
  }

  /** Reads a PACKED_BLOCKS sum of {@code count} elements as doubles. */
  static void unpack(ByteBuffer sum, int count, double[] dst, int dstOff) {
    ByteBuffer in = sum.duplicate();
    if (in.remaining() < 2) {
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the sum has "
          + in.remaining() + " bytes, too few for its block size");
    }
    int blockSize = (in.get() & 0xff) | (in.get() & 0xff) << 8;
    if (blockSize < BlockCodec.MIN_BLOCK || blockSize > BlockCodec.MAX_BLOCK) {
      throw new ChunkRejectedException(DeadLetterReason.MALFORMED_RECORD, "the sum's block size "
          + blockSize + " is not in [" + BlockCodec.MIN_BLOCK + ", " + BlockCodec.MAX_BLOCK + "]");
    }
    for (int from = 0; from < count; from += blockSize) {
      if (!in.hasRemaining()) {
        throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the sum ends before "
            + "its block of element " + from);
      }
      int e = in.get();
      if (e < BlockCodec.MIN_EXPONENT || e > BlockCodec.MIN_EXPONENT + 63) {
        throw new ChunkRejectedException(DeadLetterReason.SCALE_OUT_OF_RANGE, "the sum's block "
            + "of element " + from + " has unit 2^" + e + ", not one an exact sum has");
      }
      BitPacking.read(in, Math.min(blockSize, count - from), dst, dstOff + from,
          Math.scalb(1.0, e));
    }
    if (in.hasRemaining()) {
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the sum has "
          + in.remaining() + " bytes after its " + count + " elements");
    }
  }
}
