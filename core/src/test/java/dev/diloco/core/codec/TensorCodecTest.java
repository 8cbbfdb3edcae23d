package dev.diloco.core.codec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.core.rules.PublishedChunks;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.TensorEncoding;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

class TensorCodecTest {

  @Property(tries = 300)
  void arraysEncodeAndDecodeElementByElementAtAnyOffset(@ForAll TensorCodec codec,
      @ForAll @Size(min = 1, max = 200) float[] values, @ForAll @IntRange(max = 7) int pad) {
    int n = values.length;
    byte[] bytes = new byte[(pad + n) * codec.bytesPerElement()];
    codec.encode(values, 0, n, bytes, pad * codec.bytesPerElement());
    float[] back = new float[n + pad];
    codec.decode(bytes, pad * codec.bytesPerElement(), n, back, pad);
    for (int i = 0; i < n; i++) {
      float expected = switch (codec) {
        case FP32 -> values[i];
        case FP16 -> Fp16.toFloat(Fp16.fromFloat(values[i]));
        case BF16 -> Bf16.toFloat(Bf16.fromFloat(values[i]));
      };
      assertThat(back[pad + i]).isEqualTo(expected);
    }
  }

  @Test
  void bytesAreLittleEndian() {
    byte[] out = new byte[4];
    TensorCodec.FP32.encode(new float[] {1f}, 0, 1, out, 0);
    assertThat(out).containsExactly(0x00, 0x00, 0x80, 0x3f);
    TensorCodec.FP16.encode(new float[] {1f}, 0, 1, out, 0);
    assertThat(out[0]).isEqualTo((byte) 0x00);
    assertThat(out[1]).isEqualTo((byte) 0x3c);
    TensorCodec.BF16.encode(new float[] {1f}, 0, 1, out, 0);
    assertThat(out[0]).isEqualTo((byte) 0x80);
    assertThat(out[1]).isEqualTo((byte) 0x3f);
  }

  @Test
  void firstNonFiniteFindsInfinityAndNaN() {
    for (TensorCodec codec : TensorCodec.values()) {
      byte[] bytes = new byte[4 * codec.bytesPerElement()];
      codec.encode(new float[] {1f, 2f, Float.NaN, Float.POSITIVE_INFINITY}, 0, 4, bytes, 0);
      assertThat(codec.firstNonFinite(bytes, 0, 2)).isEqualTo(-1);
      assertThat(codec.firstNonFinite(bytes, 0, 4)).isEqualTo(2);
      assertThat(codec.firstNonFinite(bytes, 3 * codec.bytesPerElement(), 1)).isEqualTo(0);
    }
  }

  @Test
  void anEncodingThisBuildDoesNotKnowIsRejectedWithItsReason() {
    assertThatThrownBy(() -> TensorCodec.of(TensorEncoding.UNKNOWN))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.UNKNOWN_ENCODING))
        .hasMessageContaining("UNKNOWN");
    assertThat(TensorCodec.of(TensorEncoding.FP16)).isEqualTo(TensorCodec.FP16);
  }

  @Test
  void aWeightsChunkThatSaysInt4IsRejectedNotACrash() {
    assertThatThrownBy(() -> TensorCodec.of(TensorEncoding.INT4))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.LAYOUT_MISMATCH));
    var weights = new dev.diloco.schemas.WeightsChunk("r", 1, 0, 1, 0L, 4, TensorEncoding.INT4,
        java.nio.ByteBuffer.wrap(new byte[3]), 0);
    try (ChunkDecoder decoder = new ChunkDecoder(4)) {
      assertThat(PublishedChunks.weights(new dev.diloco.core.layout.ChunkPlan(4, 4), decoder,
          weights)).isInstanceOfSatisfying(Verdict.Reject.class,
              r -> assertThat(r.reason()).isEqualTo(DeadLetterReason.LAYOUT_MISMATCH));
    }
  }
}
