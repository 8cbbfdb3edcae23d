package dev.diloco.core.sum;

import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.SumEncoding;
import dev.diloco.schemas.TensorEncoding;
import java.nio.ByteBuffer;
import java.util.Collections;
import java.util.SortedSet;
import java.util.TreeMap;

/**
 * The sum of FP32 or BF16 contributions. Their exponents span about 280 bits, too wide for a
 * compact exact accumulator, so each contribution is kept until the sum is read and the sum is
 * taken in double precision in ascending contributor-id order: a fixed order, so the same
 * contributions give the same bits whatever order they arrived in. It holds one chunk per
 * contributor, where {@link FixedPointSum} holds one chunk in all.
 */
public final class OrderedSum implements ExactSum {

  private final TensorCodec codec;
  private final int elementCount;
  private final TreeMap<String, float[]> byContributor = new TreeMap<>();

  public OrderedSum(TensorEncoding encoding, int elementCount) {
    if (encoding != TensorEncoding.FP32 && encoding != TensorEncoding.BF16) {
      throw new IllegalArgumentException("OrderedSum takes FP32 or BF16, not " + encoding);
    }
    if (elementCount < 1) {
      throw new IllegalArgumentException("elementCount must be >= 1, got " + elementCount);
    }
    this.codec = TensorCodec.of(encoding);
    this.elementCount = elementCount;
  }

  @Override
  public int elementCount() {
    return elementCount;
  }

  @Override
  public SumEncoding sumEncoding() {
    return SumEncoding.FP64;
  }

  @Override
  public void add(String contributor, ByteBuffer canonical) {
    IntegerSum.checkNew(contributor, byContributor.navigableKeySet(), Integer.MAX_VALUE);
    int bytes = elementCount * codec.bytesPerElement();
    if (canonical.remaining() != bytes) {
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "a " + codec.encoding()
          + " chunk of " + elementCount + " elements has " + bytes + " bytes, not "
          + canonical.remaining());
    }
    byte[] src = canonical.array();
    int off = canonical.arrayOffset() + canonical.position();
    int bad = codec.firstNonFinite(src, off, elementCount);
    if (bad >= 0) {
      throw new ChunkRejectedException(DeadLetterReason.NON_FINITE,
          "element " + bad + " of " + contributor + "'s chunk is not finite");
    }
    float[] values = new float[elementCount];
    codec.decode(src, off, elementCount, values, 0);
    byContributor.put(contributor, values);
  }

  @Override
  public SortedSet<String> contributors() {
    return Collections.unmodifiableSortedSet(byContributor.navigableKeySet());
  }

  @Override
  public void sumTo(double[] dst, int dstOff) {
    java.util.Arrays.fill(dst, dstOff, dstOff + elementCount, 0.0);
    for (float[] values : byContributor.values()) { // ascending contributor id
      for (int i = 0; i < elementCount; i++) {
        dst[dstOff + i] += values[i];
      }
    }
  }

  @Override
  public int maxSumBytes() {
    return Math.multiplyExact(elementCount, 8);
  }

  @Override
  public int writeSum(byte[] dst, int dstOff) {
    double[] sum = new double[elementCount];
    sumTo(sum, 0);
    for (int i = 0; i < elementCount; i++) {
      LittleEndian.LONG.set(dst, dstOff + 8 * i, Double.doubleToRawLongBits(sum[i]));
    }
    return 8 * elementCount;
  }
}
