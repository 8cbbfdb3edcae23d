package dev.diloco.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@link FastExp} against Math.exp over every float exponent it computes itself, and beyond. */
class FastExpTest {

  @Test
  void isWithinTwoUlpOfMathExpFromMinus87To88() {
    float worst = 0;
    for (float x = -87f; x <= 88f; x = Math.nextUp(x + 1e-4f)) {
      float want = (float) Math.exp(x);
      float ulps = Math.abs(FastExp.exp(x) - want) / Math.ulp(want);
      worst = Math.max(worst, ulps);
    }
    assertThat(worst).isLessThanOrEqualTo(2f);
  }

  @Test
  void outsideItsRangeItIsMathExp() {
    for (float x : new float[] {-1e9f, -103.9f, -87.5f, 88.5f, 88.72f, 89f, 1e9f,
        Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY}) {
      assertThat(FastExp.exp(x)).isEqualTo((float) Math.exp(x));
    }
    assertThat(FastExp.exp(Float.NaN)).isNaN();
  }
}
