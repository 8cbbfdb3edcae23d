package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.layout.ParameterLayout;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class AdamWTest {

  private final ParameterLayout layout = ParameterLayout.builder().add("w", 1, 2).add("b", 1)
      .build();

  @Test
  void oneStepByHand() {
    // lr 0.1, betas 0.9/0.99, wd 0.5, no clipping. Step 1: m = 0.1 g, v = 0.01 g^2; bias
    // correction makes m^ = g and v^ = g^2, so the update is lr * g/|g| = +-0.1 (eps aside).
    // Decay first multiplies matrices by 1 - lr*wd = 0.95; the bias "b" is not decayed.
    AdamW adamw = new AdamW(new AdamW.Config(0.1, 0.9, 0.99, 1e-12, 0.5, 0, 0, 0, 1),
        layout);
    float[] p = {1f, -2f, 3f};
    adamw.step(p, new float[] {0.5f, -4f, 2f});
    assertThat(p[0]).isCloseTo(0.95f - 0.1f, Offset.offset(1e-6f));
    assertThat(p[1]).isCloseTo(-1.9f + 0.1f, Offset.offset(1e-6f));
    assertThat(p[2]).isCloseTo(3f - 0.1f, Offset.offset(1e-6f));
  }

  @Test
  void clippingScalesTheGradientToTheBound() {
    AdamW clipped = new AdamW(new AdamW.Config(0.1, 0.9, 0.99, 1e-12, 0, 1.0, 0, 0, 1), layout);
    float[] grad = {3f, 4f, 0f}; // norm 5
    assertThat(clipped.step(new float[3], grad)).isEqualTo(5.0);
  }

  @Test
  void theScheduleWarmsUpThenDecays() {
    AdamW adamw = new AdamW(new AdamW.Config(1.0, 0.9, 0.95, 1e-8, 0, 0, 4, 14, 0.1), layout);
    assertThat(adamw.learningRate(2)).isEqualTo(0.5);
    assertThat(adamw.learningRate(4)).isEqualTo(1.0);
    assertThat(adamw.learningRate(9)).isCloseTo(0.55, Offset.offset(1e-12));
    assertThat(adamw.learningRate(14)).isCloseTo(0.1, Offset.offset(1e-12));
    assertThatThrownBy(() -> new AdamW.Config(-1, 0.9, 0.95, 1e-8, 0, 0, 0, 0, 1))
        .hasMessageContaining("out of range");
  }
}
