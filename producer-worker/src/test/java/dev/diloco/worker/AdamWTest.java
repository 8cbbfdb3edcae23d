package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.math.WarmupCosine;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class AdamWTest {

  private final ParameterLayout layout = ParameterLayout.builder().add("w", 1, 2).add("b", 1)
      .build();
  private static final AdamW.Config PLAIN = AdamW.Config.OPENDILOCO.withLearningRate(0.1)
      .withBetas(0.9, 0.99).withEpsilon(1e-12).withWeightDecay(0).withClip(0);

  @Test
  void oneStepByHand() {
    // lr 0.1, betas 0.9/0.99, wd 0.5, no clipping. Step 1: m = 0.1 g, v = 0.01 g^2; bias
    // correction makes m^ = g and v^ = g^2, so the update is lr * g/|g| = +-0.1 (eps aside).
    // Decay first multiplies matrices by 1 - lr*wd = 0.95; the bias "b" is not decayed.
    AdamW adamw = new AdamW(PLAIN.withWeightDecay(0.5), layout);
    float[] p = {1f, -2f, 3f};
    adamw.step(p, new float[] {0.5f, -4f, 2f});
    assertThat(p[0]).isCloseTo(0.95f - 0.1f, Offset.offset(1e-6f));
    assertThat(p[1]).isCloseTo(-1.9f + 0.1f, Offset.offset(1e-6f));
    assertThat(p[2]).isCloseTo(3f - 0.1f, Offset.offset(1e-6f));
  }

  @Test
  void clippingScalesTheGradientToTheBoundAndTheMomentsSeeTheClippedOne() {
    AdamW clipped = new AdamW(PLAIN.withClip(1.0), layout);
    float[] grad = {3f, 4f, 0f}; // norm 5: scaled by 1/5 to norm 1
    assertThat(clipped.step(new float[3], grad)).as("the norm before clipping").isEqualTo(5.0);
    assertThat(grad).containsExactly(new float[] {0.6f, 0.8f, 0f}, Offset.offset(1e-7f));

    // Step 2 with the same raw gradient: m = 0.9*0.1*g1 + 0.1*g2 = 0.19 g^, v = 0.0199 g^2
    // (g^ the clipped gradient, m and v from step 1 included), bias-corrected by 1 - 0.9^2 and
    // 1 - 0.99^2: the update is 0.1 * (0.19/0.19) / sqrt(0.0199/0.0199) = 0.1 per element
    // with a non-zero gradient, whatever the clipping; what shows the clipping is the gradient.
    float[] p = {0f, 0f, 0f};
    float[] again = {3f, 4f, 0f};
    clipped.step(p, again);
    assertThat(again).containsExactly(new float[] {0.6f, 0.8f, 0f}, Offset.offset(1e-7f));
    assertThat(p).containsExactly(new float[] {-0.1f, -0.1f, 0f}, Offset.offset(1e-6f));

    float[] small = {0.3f, 0.4f, 0f}; // norm 0.5: below the bound, left as it is
    assertThat(clipped.step(new float[3], small)).isCloseTo(0.5, Offset.offset(1e-7));
    assertThat(small).containsExactly(0.3f, 0.4f, 0f);
  }

  @Test
  void theNormCountsEveryElementAndOnlyMatricesDecayWhereTheyAlternate() {
    // 19 elements (eight lanes and a remainder): 3² + 4² and seventeen 0s, norm 5.
    float[] grad = new float[19];
    grad[7] = 3f;
    grad[18] = 4f;
    assertThat(AdamW.sumOfSquares(grad)).isEqualTo(25.0);
    // Matrix, vector, matrix: two runs that decay around one that does not.
    ParameterLayout mixed = ParameterLayout.builder().add("w1", 2, 2).add("b", 3)
        .add("w2", 3, 4).build();
    AdamW adamw = new AdamW(PLAIN.withWeightDecay(0.5), mixed);
    float[] p = new float[19];
    java.util.Arrays.fill(p, 1f);
    adamw.step(p, new float[19]); // no gradient: decay alone, 1 - lr·wd = 0.95
    for (int i = 0; i < 19; i++) {
      assertThat(p[i]).as("element %d", i).isEqualTo(i >= 4 && i < 7 ? 1f : 0.95f);
    }
  }

  @Test
  void theScheduleWarmsUpThenDecaysByStep() {
    AdamW adamw = new AdamW(PLAIN.withLearningRate(1.0)
        .withSchedule(new WarmupCosine(4, 14, 0.1)), layout);
    // Step s is index s - 1 of the schedule: warm-up s / 5 for s = 1..4, the peak at step 5.
    assertThat(adamw.learningRate(1)).isEqualTo(0.2);
    assertThat(adamw.learningRate(2)).isEqualTo(0.4);
    assertThat(adamw.learningRate(5)).isEqualTo(1.0);
    // Index 9 is half-way from 4 to 14: 0.1 + 0.9 / 2.
    assertThat(adamw.learningRate(10)).isCloseTo(0.55, Offset.offset(1e-12));
    assertThat(adamw.learningRate(15)).isCloseTo(0.1, Offset.offset(1e-12));
    assertThatThrownBy(() -> PLAIN.withLearningRate(-1)).hasMessageContaining("out of range");
  }

  @Test
  void anOptimizerRestoredFromAnotherOnesStateStepsToTheSameBits() {
    AdamW first = new AdamW(PLAIN.withSchedule(new WarmupCosine(2, 10, 0.1)), layout);
    float[] p = {1f, -2f, 3f};
    first.step(p, new float[] {0.5f, -4f, 2f});
    first.step(p, new float[] {0.1f, 0.2f, -0.3f});
    AdamW.State saved = first.state();
    saved.firstMoment()[0] += 1; // a copy: changing it changes nothing in the optimizer

    AdamW restored = new AdamW(PLAIN.withSchedule(new WarmupCosine(2, 10, 0.1)), layout);
    restored.restore(first.state());
    assertThat(restored.steps()).isEqualTo(2);
    float[] q = p.clone();
    first.step(p, new float[] {-1f, 2f, 0.5f});
    restored.step(q, new float[] {-1f, 2f, 0.5f});
    assertThat(q).isEqualTo(p);
    assertThatThrownBy(() -> restored.restore(new AdamW.State(1, new float[2], new float[2])))
        .hasMessageContaining("AdamW state of 2 elements for 3 parameters");
    assertThatThrownBy(() -> new AdamW.State(-1, new float[2], new float[2]))
        .hasMessageContaining("-1 steps");
  }
}
