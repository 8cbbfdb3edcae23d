package dev.diloco.core.codec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.TensorEncoding;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class BlockCodecTest {

  private static final BlockCodec INT4_8 = new BlockCodec(TensorEncoding.INT4, 8);
  private static final BlockCodec INT8_8 = new BlockCodec(TensorEncoding.INT8, 8);

  @Test
  void aBlockTakesTheSmallestScaleThatHoldsItsLargestValue() {
    // Largest 0.75: 0.75 * 2^3 = 6 fits INT4's 7, 0.75 * 2^4 = 12 does not, so the scale is 2^-3;
    // 0.1 * 8 = 0.8 rounds to 1, so it is sent as 0.125.
    float[] block = {0.75f, -0.5f, 0.1f, 0, 0, 0, 0, -0.0625f};
    byte[] bytes = new byte[INT4_8.encodedBytes(8)];
    INT4_8.encode(block, 0, 8, bytes, 0);
    assertThat(bytes).containsExactly(-3, 0xc6 - 256, 0x01, 0x00, 0x00); // -0.0625 * 8 = -0.5 -> 0
    float[] back = new float[8];
    INT4_8.decode(bytes, 0, 8, back, 0);
    assertThat(back).containsExactly(0.75f, -0.5f, 0.125f, 0, 0, 0, 0, 0);

    // INT8 holds 127: 0.75 * 2^7 = 96 fits, 0.75 * 2^8 = 192 does not.
    byte[] int8 = new byte[INT8_8.encodedBytes(8)];
    INT8_8.encode(block, 0, 8, int8, 0);
    assertThat(int8).containsExactly(-7, 96, -64, 13, 0, 0, 0, 0, -8);
  }

  @Test
  void blocksStartAtTheChunksFirstElementAndTheLastMayBeShorter() {
    float[] values = new float[11]; // blocks of 8 and 3
    values[2] = 1f;
    values[9] = 0x1p-20f;
    assertThat(INT8_8.encodedBytes(11)).isEqualTo(2 + 11);
    assertThat(INT4_8.encodedBytes(11)).isEqualTo(2 + 6);
    byte[] bytes = new byte[INT4_8.encodedBytes(11)];
    INT4_8.encode(values, 0, 11, bytes, 0);
    assertThat(bytes[0]).isEqualTo((byte) -2); // 1 = 4 * 2^-2
    assertThat(bytes[1]).isEqualTo((byte) -22); // 2^-20 = 4 * 2^-22
    float[] back = new float[11];
    INT4_8.decode(bytes, 0, 11, back, 0);
    assertThat(back).containsExactly(values);
  }

  @Property(tries = 400)
  void aDecodedValueIsWithinHalfItsBlocksStepAndTheStepIsTheSmallestThatFits(
      @ForAll boolean int4, @ForAll @IntRange(min = 8, max = 256) int blockSize,
      @ForAll @IntRange(min = 1, max = 700) int count, @ForAll long seed) {
    BlockCodec codec = new BlockCodec(int4 ? TensorEncoding.INT4 : TensorEncoding.INT8,
        blockSize);
    float[] values = values(count, codec.maxCode(), new Random(seed));
    byte[] bytes = new byte[codec.encodedBytes(count)];
    codec.encode(values, 0, count, bytes, 0);
    codec.check(bytes, 0, count); // what the codec writes, its check takes
    float[] back = new float[count];
    codec.decode(bytes, 0, count, back, 0);
    for (int i = 0; i < count; i++) {
      int e = bytes[i / blockSize];
      assertThat(Math.abs((double) back[i] - values[i])).as("element %d", i)
          .isLessThanOrEqualTo(Math.scalb(0.5, e));
    }
    for (int b = 0; b < codec.blocks(count); b++) {
      int e = bytes[b];
      float largest = 0;
      for (int i = b * blockSize; i < Math.min(count, (b + 1) * blockSize); i++) {
        largest = Math.max(largest, Math.abs(values[i]));
      }
      if (e > BlockCodec.MIN_EXPONENT) {
        assertThat(Math.rint(Math.scalb(largest, 1 - e))).as("block %d at 2^%d", b, e - 1)
            .isGreaterThan(codec.maxCode());
      }
    }
  }

  @Test
  void scalesAndCodesOutOfRangeAreRejectedWithTheirReason() {
    byte[] ok = new byte[INT8_8.encodedBytes(8)];
    INT8_8.encode(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, 0, 8, ok, 0);
    assertRejected(INT8_8, with(ok, 0, (byte) 1), DeadLetterReason.SCALE_OUT_OF_RANGE,
        "block 0 has scale 2^1; INT8 scales are 2^-40 to 2^0");
    assertRejected(INT8_8, with(ok, 0, (byte) -41), DeadLetterReason.SCALE_OUT_OF_RANGE,
        "scale 2^-41");
    assertRejected(INT8_8, with(ok, 3, (byte) -128), DeadLetterReason.CODE_OUT_OF_RANGE,
        "element 2 has code -128; INT8 codes are -127 to 127");

    byte[] int4 = new byte[INT4_8.encodedBytes(3)];
    INT4_8.encode(new float[] {1, 2, 3}, 0, 3, int4, 0);
    assertRejected(INT4_8, with(int4, 1, (byte) 0x82), DeadLetterReason.CODE_OUT_OF_RANGE,
        "element 1 has code -8; INT4 codes are -7 to 7");
    assertRejected(INT4_8, with(int4, 2, (byte) (int4[2] | 0x10)),
        DeadLetterReason.CODE_OUT_OF_RANGE, "the unused high nibble after the last of 3");
  }

  @Test
  void thereIsNoCodeForNanOrInfinityNorABlockSizeOutOfRange() {
    byte[] out = new byte[INT8_8.encodedBytes(2)];
    assertThatThrownBy(() -> INT8_8.encode(new float[] {1, Float.NaN}, 0, 2, out, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("element 1")
        .hasMessageContaining("NaN");
    assertThatThrownBy(() -> new BlockCodec(TensorEncoding.INT4, 4))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.detail()).isEqualTo("block size 4 is not in [8, 4096]"));
    assertThatThrownBy(() -> new PayloadFormat(INT4_8, dev.diloco.schemas.Compression.NONE, true))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.LAYOUT_MISMATCH));
  }

  @Test
  void aValueBeyondTheCoarsestScaleIsClamped() {
    byte[] out = new byte[INT4_8.encodedBytes(2)];
    INT4_8.encode(new float[] {100f, -3f}, 0, 2, out, 0);
    float[] back = new float[2];
    INT4_8.decode(out, 0, 2, back, 0);
    assertThat(back).containsExactly(7f, -3f);
  }

  /** Blocks of very different magnitudes, zeros among them, within the codec's range. */
  static float[] values(int count, int maxCode, Random random) {
    float[] values = new float[count];
    for (int i = 0; i < count; i++) {
      int scale = -(random.nextInt(44)); // some below the finest scale
      values[i] = random.nextInt(9) == 0 ? 0
          : (float) Math.scalb(random.nextGaussian(), scale) * Math.min(1, maxCode / 4f);
      values[i] = Math.max(-maxCode, Math.min(maxCode, values[i]));
    }
    return values;
  }

  private static byte[] with(byte[] bytes, int at, byte value) {
    byte[] copy = bytes.clone();
    copy[at] = value;
    return copy;
  }

  private static void assertRejected(BlockCodec codec, byte[] bytes, DeadLetterReason reason,
      String detail) {
    int count = codec == INT8_8 ? bytes.length - 1 : 3;
    assertThatThrownBy(() -> codec.check(bytes, 0, count))
        .isInstanceOfSatisfying(ChunkRejectedException.class, e -> {
          assertThat(e.reason()).isEqualTo(reason);
          assertThat(e.detail()).contains(detail);
        });
  }
}
