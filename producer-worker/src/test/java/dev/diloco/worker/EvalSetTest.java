package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class EvalSetTest {

  @Test
  void theStandardErrorIsTheSampleDeviationOverTheRootOfTheCount() {
    // mean 2.5; squares 2.25 + 0.25 + 0.25 + 2.25 = 5 over 3; sqrt(5 / 3 / 4) = 0.6454972
    EvalSet.Measured m = EvalSet.Measured.of(new double[] {1, 2, 3, 4});
    assertThat(m.mean()).isEqualTo(2.5);
    assertThat(m.standardError()).isCloseTo(0.6454972, within(1e-7));
  }

  @Test
  void thePairedErrorIsTheErrorOfTheDifferences() {
    // differences 0.5, 0.5, 0.5, 0.4: mean 0.475; squares 3 x 0.025^2 + 0.075^2 = 0.0075 over
    // 3 = 0.0025; sqrt(0.0025 / 4) = 0.025, where either error alone is 0.645
    EvalSet.Measured a = EvalSet.Measured.of(new double[] {1, 2, 3, 4});
    EvalSet.Measured b = EvalSet.Measured.of(new double[] {0.5, 1.5, 2.5, 3.6});
    assertThat(a.pairedError(b)).isCloseTo(0.025, within(1e-9));
    assertThatThrownBy(() -> a.pairedError(EvalSet.Measured.of(new double[] {1, 2})))
        .hasMessageContaining("the same windows: 4 and 2");
    assertThatThrownBy(() -> EvalSet.Measured.of(new double[] {1}))
        .hasMessageContaining(">= 2 windows, got 1");
  }

  @Test
  void theWindowsLossesAverageToTheModelsOwnLoss() {
    LanguageModel model = LanguageModel.of(ModelConfig.TINY, 4, 3);
    byte[] text = BuiltInCorpus.generate(1 << 14, 2);
    EvalSet set = new EvalSet(text, 3, 4, ModelConfig.TINY.contextLength(), 5);
    EvalSet.Measured m = set.measure(model);
    assertThat(m.perWindow()).hasSize(12);
    assertThat(set.windows()).isEqualTo(12);
    assertThat(m.mean()).isCloseTo(set.loss(model), within(1e-5));
    // An untrained model is near uniform over 256 bytes: ln 256 = 5.545 a byte.
    assertThat(java.util.Arrays.stream(m.perWindow()).boxed().toList())
        .allSatisfy(l -> assertThat(l).isCloseTo(5.545, within(0.1)));
  }
}
