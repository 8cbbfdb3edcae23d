package dev.diloco.core.sum;

import dev.diloco.core.codec.BlockCodec;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.SumEncoding;
import dev.diloco.schemas.TensorEncoding;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SortedSet;

/**
 * The sum of one chunk over a round's contributors, with bits that do not depend on the order
 * in which contributions arrive (the core README, "Exact sums"): so any reducer
 * instance, and any replay, produces the same sum. Each contributor counts at most once.
 *
 * <p>FP16 contributions go into a 64-bit fixed-point accumulator in units of 2^-24, where the sum
 * is exact ({@link FixedPointSum}). FP32 and BF16 values span too wide a range for that, so they
 * are kept per contributor and added in ascending contributor-id order ({@link OrderedSum}).
 * INT8 and INT4 codes times power-of-two scales go into a 64-bit accumulator in units of 2^-40
 * ({@link BlockSum}).
 */
public sealed interface ExactSum permits IntegerSum, OrderedSum {

  /** An empty sum of {@code elementCount} elements of contributions in {@code codec}. */
  static ExactSum create(ElementCodec codec, int elementCount) {
    if (codec instanceof BlockCodec block) {
      return new BlockSum(block, elementCount);
    }
    TensorEncoding encoding = codec.encoding();
    if (encoding == TensorEncoding.FP16) {
      return new FixedPointSum(elementCount);
    }
    if (encoding == TensorEncoding.FP32 || encoding == TensorEncoding.BF16) {
      return new OrderedSum(encoding, elementCount);
    }
    throw new ChunkRejectedException(DeadLetterReason.UNKNOWN_ENCODING,
        "no exact sum for encoding " + encoding);
  }

  int elementCount();

  /** How {@link #writeSum} writes the sum. */
  SumEncoding sumEncoding();

  /**
   * Adds one contributor's chunk: its checked decoded payload (see
   * {@code ChunkDecoder.canonical}). A contributor already in the sum is rejected as a
   * duplicate, and the sum is left unchanged.
   */
  void add(String contributor, ByteBuffer canonical);

  /** Contributors so far, in ascending id order. */
  SortedSet<String> contributors();

  /** The sum as doubles into {@code dst} from {@code dstOff}. */
  void sumTo(double[] dst, int dstOff);

  /** The most bytes {@link #writeSum} may write. */
  int maxSumBytes();

  /** Writes the sum in {@link #sumEncoding()}; returns the bytes written. */
  int writeSum(byte[] dst, int dstOff);

  /** Reads a sum written by {@link #writeSum} in {@code encoding}, as doubles. */
  static void decode(SumEncoding encoding, ByteBuffer sum, int count, double[] dst, int dstOff) {
    if (encoding == SumEncoding.PACKED_Q24) {
      BitPacking.unpack(sum, count, dst, dstOff, FixedPointSum.UNIT);
      return;
    }
    if (encoding == SumEncoding.PACKED_BLOCKS) {
      BlockSum.unpack(sum, count, dst, dstOff);
      return;
    }
    if (encoding != SumEncoding.FIXED64_Q24 && encoding != SumEncoding.FP64) {
      throw new ChunkRejectedException(DeadLetterReason.UNKNOWN_ENCODING, "sum encoding "
          + encoding + " is not one this build knows (PACKED_Q24, PACKED_BLOCKS, FIXED64_Q24, "
          + "FP64)");
    }
    if (sum.remaining() != (long) count * 8) {
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "the sum has "
          + sum.remaining() + " bytes; " + count + " elements take " + (long) count * 8);
    }
    ByteBuffer le = sum.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < count; i++) {
      long bits = le.getLong();
      dst[dstOff + i] = encoding == SumEncoding.FIXED64_Q24
          ? bits * FixedPointSum.UNIT
          : Double.longBitsToDouble(bits);
    }
  }
}
