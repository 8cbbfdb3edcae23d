package dev.diloco.core.sum;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.codec.BlockCodec;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.codec.Fp16;
import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.SumEncoding;
import dev.diloco.schemas.TensorEncoding;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class ExactSumTest {

  private record Contribution(String worker, byte[] canonical) {}

  @Property(tries = 300)
  void fp16SumsAreExactAndTheSameBitsInAnyOrder(
      @ForAll @IntRange(min = 1, max = 12) int workers,
      @ForAll @IntRange(min = 1, max = 300) int elements, @ForAll long seed) {
    List<Contribution> contributions = fp16Contributions(workers, elements, new Random(seed));
    ExactSum inOrder = sum(TensorEncoding.FP16, elements, contributions);

    // An independent reference: the exact decimal sum of the halves' values.
    double[] got = new double[elements];
    inOrder.sumTo(got, 0);
    for (int i = 0; i < elements; i++) {
      BigDecimal exact = BigDecimal.ZERO;
      for (Contribution c : contributions) {
        short h = (short) ((c.canonical[2 * i] & 0xff) | (c.canonical[2 * i + 1] & 0xff) << 8);
        exact = exact.add(new BigDecimal((double) Fp16.toFloat(h)));
      }
      assertThat(new BigDecimal(got[i])).as("element %d", i).isEqualByComparingTo(exact);
    }

    List<Contribution> shuffled = new ArrayList<>(contributions);
    Collections.shuffle(shuffled, new Random(seed + 1));
    assertThat(sumBytes(sum(TensorEncoding.FP16, elements, shuffled))).isEqualTo(sumBytes(inOrder));
  }

  @Property(tries = 300)
  void blockCodeSumsAreExactAndTheSameBitsInAnyOrder(@ForAll boolean int4,
      @ForAll @IntRange(min = 1, max = 12) int workers,
      @ForAll @IntRange(min = 1, max = 300) int elements, @ForAll long seed) {
    BlockCodec codec = new BlockCodec(int4 ? TensorEncoding.INT4 : TensorEncoding.INT8, 16);
    Random random = new Random(seed);
    List<Contribution> contributions = new ArrayList<>();
    for (int w = 0; w < workers; w++) {
      float[] values = new float[elements];
      for (int i = 0; i < elements; i++) {
        values[i] = (float) Math.scalb(random.nextGaussian(), -random.nextInt(30));
      }
      byte[] bytes = new byte[codec.encodedBytes(elements)];
      codec.encode(values, 0, elements, bytes, 0);
      contributions.add(new Contribution("w" + w, bytes));
    }
    ExactSum inOrder = sum(codec, elements, contributions);

    double[] got = new double[elements];
    inOrder.sumTo(got, 0);
    for (int i = 0; i < elements; i++) {
      BigDecimal exact = BigDecimal.ZERO;
      float[] one = new float[elements];
      for (Contribution c : contributions) {
        codec.decode(c.canonical, 0, elements, one, 0);
        exact = exact.add(new BigDecimal((double) one[i]));
      }
      assertThat(new BigDecimal(got[i])).as("element %d", i).isEqualByComparingTo(exact);
    }
    double[] written = new double[elements];
    ExactSum.decode(SumEncoding.PACKED_BLOCKS, ByteBuffer.wrap(sumBytes(inOrder)), elements,
        written, 0);
    assertThat(written).containsExactly(got);

    List<Contribution> shuffled = new ArrayList<>(contributions);
    Collections.shuffle(shuffled, new Random(seed + 1));
    assertThat(sumBytes(sum(codec, elements, shuffled))).isEqualTo(sumBytes(inOrder));
  }

  @Test
  void aSumOfInt4CodesPacksToTheCodesBitsPlusLog2OfTheWorkers() {
    BlockCodec codec = new BlockCodec(TensorEncoding.INT4, 64);
    int elements = 64 * 1024;
    Random random = new Random(7);
    ExactSum sum = ExactSum.create(codec, elements);
    for (int w = 0; w < 4; w++) {
      float[] values = new float[elements];
      for (int i = 0; i < elements; i++) {
        values[i] = (float) (random.nextGaussian() * 1e-3);
      }
      byte[] bytes = new byte[codec.encodedBytes(elements)];
      codec.encode(values, 0, elements, bytes, 0);
      sum.add("w" + w, ByteBuffer.wrap(bytes));
    }
    // Codes -7..7 of four workers sum to -28..28: 4 bits of code, 2 of workers, plus 2 bytes a
    // block of 64 (0.25 bits); less where a block's values are small.
    double bitsPerElement = 8.0 * sumBytes(sum).length / elements;
    assertThat(bitsPerElement).isBetween(4.0, 4 + 2 + 0.25);
  }

  @Test
  void aBlockSumOfTheWrongLengthOrABadHeaderIsRefused() {
    BlockCodec codec = new BlockCodec(TensorEncoding.INT8, 8);
    ExactSum sum = ExactSum.create(codec, 3);
    assertThatThrownBy(() -> sum.add("w", ByteBuffer.wrap(new byte[3])))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.WRONG_LENGTH));
    assertThatThrownBy(() -> sum.add("w", ByteBuffer.wrap(new byte[] {5, 1, 2, 3})))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.SCALE_OUT_OF_RANGE));
    assertThat(sum.contributors()).isEmpty();
    sum.add("w", ByteBuffer.wrap(new byte[] {-1, 1, -2, 3}));
    byte[] good = sumBytes(sum); // block size 8, unit 2^-1, width 3, codes 1 -2 3
    double[] out = new double[3];
    ExactSum.decode(SumEncoding.PACKED_BLOCKS, ByteBuffer.wrap(good), 3, out, 0);
    assertThat(out).containsExactly(0.5, -1.0, 1.5);
    for (byte[] bad : List.of(java.util.Arrays.copyOf(good, good.length - 1),
        java.util.Arrays.copyOf(good, good.length + 1), new byte[] {1, 0}, new byte[] {8, 0, 30})) {
      assertThatThrownBy(() -> ExactSum.decode(SumEncoding.PACKED_BLOCKS, ByteBuffer.wrap(bad),
          3, new double[3], 0)).isInstanceOf(ChunkRejectedException.class);
    }
  }

  @Property(tries = 200)
  void fp32AndBf16SumsAreTheSameBitsInAnyOrder(@ForAll boolean bf16,
      @ForAll @IntRange(min = 1, max = 10) int workers,
      @ForAll @IntRange(min = 1, max = 200) int elements, @ForAll long seed) {
    TensorEncoding encoding = bf16 ? TensorEncoding.BF16 : TensorEncoding.FP32;
    TensorCodec codec = TensorCodec.of(encoding);
    Random random = new Random(seed);
    List<Contribution> contributions = new ArrayList<>();
    for (int w = 0; w < workers; w++) {
      float[] values = new float[elements];
      for (int i = 0; i < elements; i++) {
        // Magnitudes over 60 binary orders: a double sum of these depends on the order.
        values[i] = (float) (random.nextGaussian() * Math.scalb(1.0, random.nextInt(60) - 30));
      }
      byte[] bytes = new byte[elements * codec.bytesPerElement()];
      codec.encode(values, 0, elements, bytes, 0);
      contributions.add(new Contribution("worker-" + w, bytes));
    }
    ExactSum inOrder = sum(encoding, elements, contributions);
    assertThat(inOrder.sumEncoding()).isEqualTo(SumEncoding.FP64);

    // Reference: a double sum in ascending worker-id order, written out here.
    List<Contribution> byId = new ArrayList<>(contributions);
    byId.sort((a, b) -> a.worker.compareTo(b.worker));
    double[] got = new double[elements];
    inOrder.sumTo(got, 0);
    for (int i = 0; i < elements; i++) {
      double expected = 0;
      for (Contribution c : byId) {
        float[] one = new float[1];
        codec.decode(c.canonical, i * codec.bytesPerElement(), 1, one, 0);
        expected += one[0];
      }
      assertThat(got[i]).isEqualTo(expected);
    }

    List<Contribution> shuffled = new ArrayList<>(contributions);
    Collections.shuffle(shuffled, new Random(seed ^ 0x5eed));
    assertThat(sumBytes(sum(encoding, elements, shuffled))).isEqualTo(sumBytes(inOrder));
  }

  @Property(tries = 500)
  void packedSumsDecodeToTheExactValuesAtAnyWidth(
      @ForAll @net.jqwik.api.constraints.Size(max = 40) java.util.List<Long> raw,
      @ForAll @IntRange(min = 0, max = 63) int shift) {
    // values of any magnitude, from all zeros to the full 64-bit range
    long[] values = raw.stream().mapToLong(v -> v >> shift).toArray();
    byte[] bytes = new byte[BitPacking.maxBytes(values.length)];
    int n = BitPacking.pack(values, bytes, 0);
    double[] back = new double[values.length];
    ExactSum.decode(SumEncoding.PACKED_Q24, ByteBuffer.wrap(bytes, 0, n), values.length, back, 0);
    for (int i = 0; i < values.length; i++) {
      assertThat(back[i]).isEqualTo(values[i] * 0x1p-24);
    }
  }

  @Test
  void theWrittenSumDecodesToTheSameDoubles() {
    for (TensorEncoding encoding : List.of(TensorEncoding.FP16, TensorEncoding.FP32)) {
      ExactSum sum = ExactSum.create(TensorCodec.of(encoding), 3);
      TensorCodec codec = TensorCodec.of(encoding);
      byte[] a = new byte[3 * codec.bytesPerElement()];
      codec.encode(new float[] {0.5f, -2f, 0x1p-24f}, 0, 3, a, 0);
      sum.add("a", ByteBuffer.wrap(a));
      sum.add("b", ByteBuffer.wrap(a));
      double[] decoded = new double[3];
      ExactSum.decode(sum.sumEncoding(), ByteBuffer.wrap(sumBytes(sum)), 3, decoded, 0);
      assertThat(decoded).containsExactly(1.0, -4.0, 0x1p-23);
    }
  }

  @Test
  void aContributorCountsOnceAndABadChunkLeavesTheSumUntouched() {
    ExactSum sum = ExactSum.create(TensorCodec.FP16, 2);
    byte[] ok = fp16(1f, 2f);
    sum.add("w1", ByteBuffer.wrap(ok));
    byte[] before = sumBytes(sum);

    assertThatThrownBy(() -> sum.add("w1", ByteBuffer.wrap(ok)))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.DUPLICATE));
    assertThatThrownBy(() -> sum.add("w2", ByteBuffer.wrap(fp16(3f, Float.NaN))))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.NON_FINITE));
    assertThatThrownBy(() -> sum.add("w3", ByteBuffer.wrap(new byte[6])))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.WRONG_LENGTH));

    assertThat(sumBytes(sum)).isEqualTo(before);
    assertThat(sum.contributors()).containsExactly("w1");
  }

  @Test
  void aSumOfAnUnknownEncodingOrOfTheWrongLengthIsRefused() {
    assertThatThrownBy(() -> ExactSum.create(ElementCodec.of(TensorEncoding.UNKNOWN, 0), 4))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.UNKNOWN_ENCODING));
    assertThatThrownBy(() -> ExactSum.decode(SumEncoding.UNKNOWN, ByteBuffer.allocate(8), 1,
        new double[1], 0)).hasMessageContaining("sum encoding UNKNOWN");
    // packed: too few bytes, too many, too wide
    assertThatThrownBy(() -> ExactSum.decode(SumEncoding.PACKED_Q24,
        ByteBuffer.wrap(new byte[] {12, 1}), 2, new double[2], 0))
        .hasMessageContaining("2 values of 12 bits take 3");
    assertThatThrownBy(() -> ExactSum.decode(SumEncoding.PACKED_Q24,
        ByteBuffer.wrap(new byte[] {8, 1, 2}), 1, new double[1], 0))
        .hasMessageContaining("has 2 bytes of values");
    assertThatThrownBy(() -> ExactSum.decode(SumEncoding.PACKED_Q24,
        ByteBuffer.wrap(new byte[] {65, 0}), 1, new double[1], 0))
        .hasMessageContaining("65 bits wide");
    assertThatThrownBy(() -> ExactSum.decode(SumEncoding.FP64, ByteBuffer.allocate(12), 2,
        new double[2], 0)).hasMessageContaining("2 elements take 16");
  }

  private static List<Contribution> fp16Contributions(int workers, int elements, Random random) {
    List<Contribution> list = new ArrayList<>();
    for (int w = 0; w < workers; w++) {
      byte[] bytes = new byte[2 * elements];
      for (int i = 0; i < elements; i++) {
        short h;
        do { // any finite half: subnormals, extremes and signed zeros included
          h = (short) random.nextInt(1 << 16);
        } while (Fp16.isNonFinite(h));
        bytes[2 * i] = (byte) h;
        bytes[2 * i + 1] = (byte) (h >>> 8);
      }
      list.add(new Contribution("w" + w, bytes));
    }
    return list;
  }

  private static byte[] fp16(float... values) {
    byte[] bytes = new byte[2 * values.length];
    TensorCodec.FP16.encode(values, 0, values.length, bytes, 0);
    return bytes;
  }

  private static ExactSum sum(TensorEncoding encoding, int elements, List<Contribution> list) {
    return sum(TensorCodec.of(encoding), elements, list);
  }

  private static ExactSum sum(ElementCodec codec, int elements, List<Contribution> list) {
    ExactSum sum = ExactSum.create(codec, elements);
    list.forEach(c -> sum.add(c.worker, ByteBuffer.wrap(c.canonical)));
    return sum;
  }

  private static byte[] sumBytes(ExactSum sum) {
    byte[] out = new byte[sum.maxSumBytes()];
    return java.util.Arrays.copyOf(out, sum.writeSum(out, 0));
  }
}
