package dev.diloco.core.codec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.github.luben.zstd.Zstd;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.TensorEncoding;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.function.Consumer;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** The whole payload path: encode, planes, zstd, CRC; and every way a payload can be bad. */
class ChunkPayloadTest {

  private static final int MAX = 4096;

  @Property(tries = 200)
  void anyFormatGivesBackTheCodecsRoundingOfTheInput(@ForAll TensorCodec codec,
      @ForAll boolean zstd, @ForAll boolean planes, @ForAll @IntRange(min = 1, max = MAX) int n,
      @ForAll long seed) {
    PayloadFormat format = new PayloadFormat(codec, zstd ? Compression.ZSTD : Compression.NONE, planes);
    float[] values = gradientLike(n, seed);
    try (var encoder = new ChunkEncoder(format, MAX); var decoder = new ChunkDecoder(MAX)) {
      ChunkEncoder.Encoded encoded = encoder.encode(values, 0, n);
      float[] back = new float[n];
      decoder.decode(copy(encoded.payload()), format, n, encoded.crc32c(), back, 0);

      byte[] reference = new byte[n * codec.bytesPerElement()];
      codec.encode(values, 0, n, reference, 0);
      float[] expected = new float[n];
      codec.decode(reference, 0, n, expected, 0);
      assertThat(back).containsExactly(expected);
      // The CRC covers the decoded payload, so it is the same whatever planes and compression.
      assertThat(encoded.crc32c()).isEqualTo(Checksums.crc32c(reference, 0, reference.length));
    }
  }

  @Test
  void bytePlanesThenZstdCompressFp16GradientsBetterThanZstdAlone() {
    float[] values = gradientLike(MAX, 7);
    int plain;
    int split;
    try (var e = new ChunkEncoder(new PayloadFormat(TensorCodec.FP16, Compression.ZSTD, false), MAX)) {
      plain = e.encode(values, 0, MAX).payload().remaining();
    }
    try (var e = new ChunkEncoder(new PayloadFormat(TensorCodec.FP16, Compression.ZSTD, true), MAX)) {
      split = e.encode(values, 0, MAX).payload().remaining();
    }
    assertThat(split).isLessThan(plain).isLessThan(2 * MAX);
  }

  @Test
  void aPayloadOfTheWrongLengthIsRejected() {
    Fixture f = Fixture.of(PayloadFormat.FP16, 100);
    ByteBuffer shorter = ByteBuffer.wrap(f.payload, 0, f.payload.length - 2);
    assertRejected(DeadLetterReason.WRONG_LENGTH, "has 198 bytes",
        d -> d.canonical(shorter, f.format, 100, f.crc));
    // The header's element count disagrees with the payload.
    assertRejected(DeadLetterReason.WRONG_LENGTH, "101 FP16 elements take 202",
        d -> d.canonical(ByteBuffer.wrap(f.payload), f.format, 101, f.crc));
    // More elements than any chunk of the layout holds.
    assertRejected(DeadLetterReason.WRONG_LENGTH, "chunks hold 1 to " + MAX,
        d -> d.canonical(ByteBuffer.wrap(f.payload), f.format, MAX + 1, f.crc));
  }

  @Test
  void aCorruptedPayloadOrAWrongChecksumIsACrcMismatch() {
    for (PayloadFormat format : new PayloadFormat[] {PayloadFormat.FP16,
        new PayloadFormat(TensorCodec.FP32, Compression.NONE, true)}) {
      Fixture f = Fixture.of(format, 100);
      byte[] flipped = f.payload.clone();
      flipped[37] ^= 0x01;
      assertRejected(DeadLetterReason.CRC_MISMATCH, "CRC32C",
          d -> d.canonical(ByteBuffer.wrap(flipped), format, 100, f.crc));
      assertRejected(DeadLetterReason.CRC_MISMATCH, "the chunk says",
          d -> d.canonical(ByteBuffer.wrap(f.payload), format, 100, f.crc + 1));
    }
  }

  @Test
  void zstdGarbageOrAFrameThatInflatesTooFarIsRejected() {
    PayloadFormat format = new PayloadFormat(TensorCodec.FP16, Compression.ZSTD, false);
    byte[] garbage = new byte[64];
    new Random(1).nextBytes(garbage);
    assertRejected(DeadLetterReason.MALFORMED_RECORD, "zstd",
        d -> d.canonical(ByteBuffer.wrap(garbage), format, 100, 0));
    // A small frame that inflates to 1 MiB, sent as a chunk of 100 elements.
    byte[] bomb = Zstd.compress(new byte[1 << 20]);
    assertRejected(DeadLetterReason.WRONG_LENGTH, "more than the 200 bytes",
        d -> d.canonical(ByteBuffer.wrap(bomb), format, 100, 0));
    // A frame that inflates to fewer bytes than the header says.
    byte[] small = Zstd.compress(new byte[100]);
    assertRejected(DeadLetterReason.WRONG_LENGTH, "inflates to 100 bytes",
        d -> d.canonical(ByteBuffer.wrap(small), format, 100, 0));
  }

  @Test
  void nanOrInfinityInAPayloadIsRejectedEvenWithAValidChecksum() {
    float[] values = gradientLike(10, 3);
    values[6] = Float.NEGATIVE_INFINITY;
    try (var encoder = new ChunkEncoder(PayloadFormat.FP32, 10)) {
      ChunkEncoder.Encoded e = encoder.encode(values, 0, 10);
      assertRejected(DeadLetterReason.NON_FINITE, "element 6 of the chunk is -Infinity",
          d -> d.canonical(copy(e.payload()), PayloadFormat.FP32, 10, e.crc32c()));
    }
  }

  @Test
  void unknownEncodingOrCompressionIsRejectedWithItsReason() {
    assertThatThrownBy(() -> PayloadFormat.of(TensorEncoding.UNKNOWN, 0, Compression.NONE, false))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.UNKNOWN_ENCODING));
    assertThatThrownBy(() -> PayloadFormat.of(TensorEncoding.FP16, 0, Compression.UNKNOWN, false))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.UNKNOWN_COMPRESSION));
  }

  @Test
  void aDirectBufferPayloadDecodesLikeAHeapOne() {
    Fixture f = Fixture.of(PayloadFormat.FP16, 50);
    ByteBuffer direct = ByteBuffer.allocateDirect(f.payload.length).put(f.payload).flip();
    float[] fromDirect = new float[50];
    float[] fromHeap = new float[50];
    try (var decoder = new ChunkDecoder(MAX)) {
      decoder.decode(direct, f.format, 50, f.crc, fromDirect, 0);
      decoder.decode(ByteBuffer.wrap(f.payload), f.format, 50, f.crc, fromHeap, 0);
    }
    assertThat(fromDirect).containsExactly(fromHeap);
  }

  private record Fixture(PayloadFormat format, byte[] payload, int crc) {
    static Fixture of(PayloadFormat format, int n) {
      try (var encoder = new ChunkEncoder(format, MAX)) {
        ChunkEncoder.Encoded e = encoder.encode(gradientLike(n, n), 0, n);
        ByteBuffer p = e.payload();
        byte[] bytes = new byte[p.remaining()];
        p.get(bytes);
        return new Fixture(format, bytes, e.crc32c());
      }
    }
  }

  private static void assertRejected(DeadLetterReason reason, String message,
      Consumer<ChunkDecoder> call) {
    try (var decoder = new ChunkDecoder(MAX)) {
      assertThatThrownBy(() -> call.accept(decoder))
          .isInstanceOfSatisfying(ChunkRejectedException.class,
              e -> assertThat(e.reason()).isEqualTo(reason))
          .hasMessageContaining(message);
    }
  }

  /** Values shaped like pseudo-gradients: small, centred, with a few larger ones. */
  static float[] gradientLike(int n, long seed) {
    Random random = new Random(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (random.nextGaussian() * (random.nextInt(50) == 0 ? 1e-1 : 1e-3));
    }
    return v;
  }

  private static ByteBuffer copy(ByteBuffer b) {
    ByteBuffer c = ByteBuffer.allocate(b.remaining());
    c.put(b.duplicate()).flip();
    return c;
  }
}
