package dev.diloco.core.round;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.PseudoGradient;
import dev.diloco.schemas.OuterMethod;
import org.junit.jupiter.api.Test;

class EagerEstimateTest {

  private static final RoundStep NESTEROV =
      new RoundStep(new OuterStep(OuterMethod.NESTEROV, 0.5f), 0.5f);

  @Test
  void theEagerEstimateIsTheOuterStepWithTheWorkersOwnDelta() {
    // theta = 1, m = 0.5, own delta 1, lr 0.5, mu 0.5: m = 0.25 + 1 = 1.25,
    // theta = 1 - 0.5 * (1 + 0.625) = 0.1875; the second element: m = 0, delta -0.5:
    // m = -0.5, theta = 2 - 0.5 * (-0.5 - 0.25) = 2.375. All exact in binary.
    float[] theta = {1f, 2f};
    float[] momentum = {0.5f, 0f};
    float[] out = new float[2];
    EagerEstimate.eager(NESTEROV, theta, momentum, new float[] {1f, -0.5f}, null, out);
    assertThat(out).containsExactly(0.1875f, 2.375f);
    assertThat(theta).containsExactly(1f, 2f);
    assertThat(momentum).containsExactly(0.5f, 0f);
  }

  @Test
  void halfOfTheOffsetTheLastRoundWasTrainedFromComesOutOfTheStandIn() {
    // The first element's round started 0.5 above theta: the stand-in is 1 - 0.5 * 0.5 = 0.75,
    // m = 0.25 + 0.75 = 1, theta = 1 - 0.5 * (0.75 + 0.5) = 0.375. The second started at theta
    // itself: as without a start, 2.375. The estimate is written over the start it reads.
    float[] theta = {1f, 2f};
    float[] start = {1.5f, 2f};
    EagerEstimate.eager(NESTEROV, theta, new float[] {0.5f, 0f}, new float[] {1f, -0.5f},
        start, start);
    assertThat(start).containsExactly(0.375f, 2.375f);
    assertThat(theta).containsExactly(1f, 2f);
  }

  @Test
  void anUnknownMomentumCountsAsZero() {
    // m = 0 + 1, theta = 1 - 0.5 * (1 + 0.5) = 0.25
    float[] out = new float[1];
    EagerEstimate.eager(NESTEROV, new float[] {1f}, null, new float[] {1f}, null, out);
    assertThat(out).containsExactly(0.25f);
  }

  @Test
  void aRebasedDeltaIsTheProgressFromTheStart() {
    // trained from start 1 to 0.75; committed 0.5: local becomes 0.25, delta 0.5 - 0.25 = 0.25
    float[] local = {0.75f};
    EagerEstimate.rebase(local, new float[] {1f}, new float[] {0.5f});
    assertThat(local).containsExactly(0.25f);
    float[] delta = new float[1];
    PseudoGradient.compute(new float[] {0.5f}, local, delta);
    assertThat(delta).containsExactly(0.25f);
  }

  @Test
  void vectorsOfDifferentLengthsAreRefused() {
    assertThatThrownBy(() -> EagerEstimate.rebase(new float[2], new float[1], new float[2]))
        .hasMessageContaining("a start of 1");
    assertThatThrownBy(() -> EagerEstimate.eager(NESTEROV, new float[2], new float[3],
        new float[2], null, new float[2])).hasMessageContaining("momentum of 3");
    assertThatThrownBy(() -> EagerEstimate.eager(NESTEROV, new float[2], null,
        new float[2], new float[1], new float[2])).hasMessageContaining("a start of 1");
  }
}
