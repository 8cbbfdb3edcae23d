package dev.diloco.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import org.assertj.core.data.Offset;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * {@link FastExp}: its e^x against Math.exp over every float exponent it computes itself, and
 * beyond; its vectorised e^x and σ over the ranges they are used on.
 */
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

  @Test
  void theVectorisedExponentialIsWithin3e6OfMathExpDownToMinus24AndFlatBelow() {
    double worst = 0;
    for (float x = -24f; x <= 0f; x += 1e-4f) {
      double want = Math.exp(x);
      worst = Math.max(worst, Math.abs(FastExp.negative(x) - want) / want);
    }
    assertThat(worst).isLessThanOrEqualTo(3e-6);
    float floor = FastExp.negative(-24f);
    assertThat(FastExp.negative(-30f)).isEqualTo(floor);
    assertThat(FastExp.negative(Float.NEGATIVE_INFINITY)).isEqualTo(floor);
    assertThat((double) floor).isCloseTo(Math.exp(-24), Percentage.withPercentage(1e-3));
  }

  @Test
  void theBranchFreeSigmoidIsWithin3e6OfTheLogisticFunction() {
    double worst = 0;
    for (float z = -20f; z <= 20f; z += 1e-4f) {
      double want = 1 / (1 + Math.exp(-z));
      worst = Math.max(worst, Math.abs(FastExp.sigmoid(z) - want) / want);
    }
    assertThat(worst).isLessThanOrEqualTo(3e-6);
    assertThat(FastExp.sigmoid(0f)).isCloseTo(0.5f, Offset.offset(1e-6f));
    assertThat(FastExp.sigmoid(1e-35f)).isCloseTo(0.5f,
        Offset.offset(1e-6f));
    assertThat(FastExp.sigmoid(100f)).isEqualTo(1f);
    assertThat(FastExp.sigmoid(-100f)).isLessThan(1e-10f);
    float[] s = new float[3];
    FastExp.sigmoids(new float[] {-1f, 0f, 2f}, s, 3, 0.5f);
    assertThat(s[1]).isCloseTo(0.5f, Offset.offset(1e-6f));
    assertThat((double) s[2]).isCloseTo(1 / (1 + Math.exp(-1)), Offset.offset(2e-6));
  }
}
