package dev.diloco.core.codec;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.schemas.TensorEncoding;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class ErrorFeedbackTest {

  @Test
  void whatIsLeftOutOfOneRoundIsSentInTheNext() {
    BlockCodec int4 = new BlockCodec(TensorEncoding.INT4, 8);
    ErrorFeedback feedback = new ErrorFeedback(int4, new ChunkPlan(2, 2));
    // 0.1 takes the scale 2^-6 (6.4 rounds to 6): 0.09375 is sent, 0.1 - 0.09375 is kept.
    float[] delta = {0.1f, 0f};
    feedback.compensate(delta);
    assertThat(delta).containsExactly(0.1f, 0f);
    assertThat(feedback.residual()).containsExactly(0.1f - 0.09375f, 0f);

    // Next round the worker moved no further: the residual alone is sent, at its own scale.
    float[] next = {0f, 0f};
    feedback.compensate(next);
    assertThat(next).containsExactly(0.1f - 0.09375f, 0f);
    float kept = 0.1f - 0.09375f; // about 0.00625: 6.4 * 2^-10, sent as 6 * 2^-10
    assertThat(feedback.residual()).containsExactly(kept - 6 * 0x1p-10f, 0f);
  }

  @Test
  void aRestoredResidualIsSentAsTheSavedOneWouldHaveBeen() {
    BlockCodec int4 = new BlockCodec(TensorEncoding.INT4, 8);
    ErrorFeedback feedback = new ErrorFeedback(int4, new ChunkPlan(2, 2));
    feedback.compensate(new float[] {0.1f, 0f});
    ErrorFeedback restarted = new ErrorFeedback(int4, new ChunkPlan(2, 2));
    restarted.restore(feedback.residual());
    float[] a = {0.02f, -0.3f};
    float[] b = a.clone();
    feedback.compensate(a);
    restarted.compensate(b);
    assertThat(b).containsExactly(a);
    assertThat(restarted.residual()).containsExactly(feedback.residual());
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> restarted.restore(new float[3]))
        .hasMessageContaining("a residual of 3 elements for 2");
  }

  @Property(tries = 300)
  void theResidualPlusWhatWasSentIsTheCompensatedInputExactly(@ForAll boolean int4,
      @ForAll @IntRange(min = 1, max = 900) int elements,
      @ForAll @IntRange(min = 8, max = 300) int chunkElements, @ForAll long seed) {
    BlockCodec codec = new BlockCodec(int4 ? TensorEncoding.INT4 : TensorEncoding.INT8, 64);
    ChunkPlan plan = new ChunkPlan(elements, chunkElements);
    ErrorFeedback feedback = new ErrorFeedback(codec, plan);
    Random random = new Random(seed);
    for (int round = 0; round < 3; round++) {
      float[] delta = BlockCodecTest.values(elements, codec.maxCode() / 2, random);
      float[] before = feedback.residual();
      float[] compensated = new float[elements];
      for (int i = 0; i < elements; i++) {
        compensated[i] = delta[i] + before[i];
      }
      feedback.compensate(delta);
      assertThat(delta).as("what the worker sends").containsExactly(compensated);

      float[] residual = feedback.residual();
      for (int c = 0; c < plan.chunkCount(); c++) {
        int from = (int) plan.range(c).offset();
        int n = plan.range(c).count();
        byte[] bytes = new byte[codec.encodedBytes(n)];
        codec.encode(compensated, from, n, bytes, 0);
        float[] sent = new float[n];
        codec.decode(bytes, 0, n, sent, 0);
        for (int i = 0; i < n; i++) {
          assertThat((double) sent[i] + residual[from + i]).as("element %d", from + i)
              .isEqualTo((double) compensated[from + i]);
        }
      }
    }
  }
}
