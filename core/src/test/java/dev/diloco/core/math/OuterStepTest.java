package dev.diloco.core.math;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.schemas.OuterMethod;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class OuterStepTest {

  // Three steps from theta = 1, m = 0, with lr 0.5, mu 0.5, two contributors each round:
  // sums 1, -0.5, 2, so the mean pseudo-gradients are g = 0.5, -0.25, 1. Every value below is
  // exact in binary, worked out by hand from m = mu*m + g and the update rule.
  private static final double[][] SUMS = {{1.0}, {-0.5}, {2.0}};

  private static float[][] run(OuterMethod method) {
    OuterStep step = new OuterStep(method, 0.5f);
    float[] theta = {1f};
    float[] m = {0f};
    float[][] trace = new float[3][];
    for (int r = 0; r < 3; r++) {
      step.apply(0.5f, SUMS[r], 2, theta, m, 0, 1);
      trace[r] = new float[] {theta[0], m[0]};
    }
    return trace;
  }

  @Test
  void nesterovByHand() {
    // m = 0.5, theta = 1 - 0.5*(0.5 + 0.25)    = 0.625
    // m = 0,   theta = 0.625 - 0.5*(-0.25 + 0) = 0.75
    // m = 1,   theta = 0.75 - 0.5*(1 + 0.5)    = 0
    assertThat(run(OuterMethod.NESTEROV))
        .isDeepEqualTo(new float[][] {new float[] {0.625f, 0.5f}, new float[] {0.75f, 0f},
            new float[] {0f, 1f}});
  }

  @Test
  void plainMomentumByHand() {
    // m = 0.5, theta = 1 - 0.25 = 0.75;  m = 0, theta = 0.75;  m = 1, theta = 0.75 - 0.5 = 0.25
    assertThat(run(OuterMethod.MOMENTUM))
        .isDeepEqualTo(new float[][] {new float[] {0.75f, 0.5f}, new float[] {0.75f, 0f},
            new float[] {0.25f, 1f}});
  }

  @Test
  void plainSgdByHand() {
    // theta = 1 - 0.25 = 0.75;  0.75 + 0.125 = 0.875;  0.875 - 0.5 = 0.375; m untouched
    assertThat(run(OuterMethod.SGD))
        .isDeepEqualTo(new float[][] {new float[] {0.75f, 0f}, new float[] {0.875f, 0f},
            new float[] {0.375f, 0f}});
  }

  @Property(tries = 200)
  void stepByChunkIsTheSameBitsAsStepOnTheWholeVector(@ForAll OuterMethod method,
      @ForAll @IntRange(min = 1, max = 500) int n, @ForAll @IntRange(min = 1, max = 64) int chunk,
      @ForAll long seed) {
    if (method == OuterMethod.UNKNOWN) {
      return;
    }
    Random random = new Random(seed);
    float[] theta = new float[n];
    float[] m = new float[n];
    double[] sum = new double[n];
    for (int i = 0; i < n; i++) {
      theta[i] = (float) random.nextGaussian();
      m[i] = (float) random.nextGaussian() * 0.1f;
      sum[i] = random.nextGaussian() * 0.01;
    }
    OuterStep step = new OuterStep(method, 0.9f);
    float[] wholeTheta = theta.clone();
    float[] wholeM = m.clone();
    step.apply(0.7f, sum, 3, wholeTheta, wholeM, 0, n);
    double[] chunkSum = new double[chunk];
    for (int from = 0; from < n; from += chunk) {
      int len = Math.min(chunk, n - from);
      System.arraycopy(sum, from, chunkSum, 0, len); // a chunk's sum arrives on its own
      step.apply(0.7f, chunkSum, 3, theta, m, from, len);
    }
    assertThat(theta).containsExactly(wholeTheta);
    assertThat(m).containsExactly(wholeM);
  }

  @Test
  void badHyperParametersAreRefusedWithTheValue() {
    assertThatThrownBy(() -> new OuterStep(OuterMethod.UNKNOWN, 0.9f))
        .hasMessageContaining("UNKNOWN");
    assertThatThrownBy(() -> new OuterStep(OuterMethod.NESTEROV, 1f))
        .hasMessageContaining("got 1.0");
    OuterStep step = new OuterStep(OuterMethod.NESTEROV, 0.9f);
    assertThatThrownBy(() -> step.apply(Float.NaN, new double[1], 1, new float[1],
        new float[1], 0, 1)).hasMessageContaining("got NaN");
    assertThatThrownBy(() -> step.apply(0.7f, new double[1], 0, new float[1], new float[1],
        0, 1)).hasMessageContaining("positive count");
  }
}
