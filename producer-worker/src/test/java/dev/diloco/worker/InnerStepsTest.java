package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.layout.ParameterLayout;
import org.junit.jupiter.api.Test;

class InnerStepsTest {

  private static final ModelConfig SMALL = new ModelConfig(16, 2, 32, 4, 64);
  private static final byte[] SHARD = BuiltInCorpus.generate(4096, 1);

  private static float[] weights(LanguageModel model) {
    float[] w = new float[(int) model.layout().totalElements()];
    model.parameters(w);
    return w;
  }

  @Test
  void finiteStepsSumTheirLosses() {
    LanguageModel model = LanguageModel.of(SMALL, 2, 3);
    InnerSteps steps = new InnerSteps(model, new AdamW(AdamW.Config.OPENDILOCO, model.layout()),
        SHARD, 1, "w0", 3);
    float[] local = weights(model);
    InnerSteps.Outcome o = steps.run(0, local, new float[local.length]);
    assertThat(o).isInstanceOfSatisfying(InnerSteps.Trained.class,
        t -> assertThat(t.lossSum()).isBetween(3 * 4.0, 3 * 6.0)); // about ln 256 = 5.5 each
  }

  @Test
  void aNonFiniteLossEndsTheStepsAndSaysWhere() {
    LanguageModel model = LanguageModel.of(SMALL, 2, 3);
    AdamW adamw = new AdamW(AdamW.Config.OPENDILOCO, model.layout());
    InnerSteps steps = new InnerSteps(model, adamw, SHARD, 1, "w0", 3);
    float[] local = weights(model);
    local[(int) model.layout().tensor("ln_f.bias").offset() + 3] = Float.NaN;
    assertThat(steps.run(0, local, new float[local.length]))
        .isEqualTo(new InnerSteps.NonFinite(1, "the loss is NaN"));
    assertThat(adamw.steps()).as("no step was taken from it").isZero();
  }

  @Test
  void weightsThatOverflowInAStepAreNamedByTensorAndElement() {
    LanguageModel model = LanguageModel.of(SMALL, 2, 3);
    // A learning rate whose step size is no float: the first step sends weights to infinity.
    AdamW adamw = new AdamW(AdamW.Config.OPENDILOCO.withLearningRate(1e39), model.layout());
    InnerSteps steps = new InnerSteps(model, adamw, SHARD, 1, "w0", 3);
    float[] local = weights(model);
    InnerSteps.Outcome o = steps.run(0, local, new float[local.length]);
    assertThat(o).isInstanceOfSatisfying(InnerSteps.NonFinite.class, bad -> {
      assertThat(bad.step()).isEqualTo(1);
      assertThat(bad.what()).matches("wte\\[\\d+\\] is -?(Infinity|NaN) after the step");
    });
    ParameterLayout layout = model.layout();
    assertThat(layout.tensorAt(0).name()).isEqualTo("wte");
    assertThat(layout.tensorAt(layout.totalElements() - 1).name()).isEqualTo("lm_head");
  }
}
