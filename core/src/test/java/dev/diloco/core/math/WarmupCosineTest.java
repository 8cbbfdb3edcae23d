package dev.diloco.core.math;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class WarmupCosineTest {

  private static final Offset<Double> EXACT_ENOUGH = Offset.offset(1e-12);

  @Test
  void constantIsThePeakAtEveryIndex() {
    assertThat(WarmupCosine.CONSTANT.factor(0)).isEqualTo(1.0);
    assertThat(WarmupCosine.CONSTANT.factor(123)).isEqualTo(1.0);
  }

  @Test
  void warmsUpLinearlyThenDecaysByACosineToItsFloorAsNanoGptDoes() {
    WarmupCosine s = new WarmupCosine(3, 13, 0.1);
    // Warm-up: (t + 1) / (3 + 1).
    assertThat(s.factor(0)).isEqualTo(0.25);
    assertThat(s.factor(2)).isEqualTo(0.75);
    assertThat(s.factor(3)).isEqualTo(1.0); // the first index at the peak
    // Half-way through the decay (t = 8 of 3..13): 0.1 + 0.9 * (1 + cos(pi/2)) / 2 = 0.55.
    assertThat(s.factor(8)).isCloseTo(0.55, EXACT_ENOUGH);
    assertThat(s.factor(13)).isCloseTo(0.1, EXACT_ENOUGH);
    assertThat(s.factor(50)).isCloseTo(0.1, EXACT_ENOUGH);
    // No decay: the peak after the warm-up, for ever.
    assertThat(new WarmupCosine(2, 0, 0.1).factor(1000)).isEqualTo(1.0);
  }

  @Test
  void badSettingsAreRefusedWithTheValue() {
    assertThatThrownBy(() -> new WarmupCosine(-1, 0, 1)).hasMessageContaining("got -1");
    assertThatThrownBy(() -> new WarmupCosine(0, -2, 1)).hasMessageContaining("got -2");
    assertThatThrownBy(() -> new WarmupCosine(0, 0, 1.5)).hasMessageContaining("got 1.5");
    assertThatThrownBy(() -> WarmupCosine.CONSTANT.factor(-1)).hasMessageContaining("got -1");
  }
}
