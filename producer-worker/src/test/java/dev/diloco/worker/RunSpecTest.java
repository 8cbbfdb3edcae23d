package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OuterMethod;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.Overlap;
import org.junit.jupiter.api.Test;

class RunSpecTest {

  private final RunSpec spec = new RunSpec("r1", new ModelConfig(16, 1, 32, 4, 64), 4, 25,
      AdamW.Config.OPENDILOCO, new OuterOptimizerConfig(OuterMethod.NESTEROV, 0.7, 0.9,
          Averaging.COUNT), PayloadFormat.FP16, false, 7, 4096);

  @Test
  void theDescriptionCarriesEverythingAWorkerNeeds() {
    ModelDescription d = spec.describe(spec.newModel());
    assertThat(RunSpec.of(d)).isEqualTo(spec);
    RunSpec eager = spec.withOverlap(Overlap.EAGER);
    assertThat(RunSpec.of(eager.describe(eager.newModel()))).isEqualTo(eager);
    assertThat(d.getLayout().getChunkCount()).isEqualTo(spec.newModel().layout().chunks(4096)
        .chunkCount());
  }

  @Test
  void theInnerScheduleTravelsWithItsHorizonAndFloor() {
    RunSpec decayed = new RunSpec("r2", spec.model(), spec.batch(), spec.innerSteps(),
        AdamW.Config.OPENDILOCO.withSchedule(new dev.diloco.core.math.WarmupCosine(10, 500,
            0.05)), spec.outer(), spec.format(), false, 7, 4096);
    ModelDescription d = decayed.describe(decayed.newModel());
    assertThat(d.getInnerOptimizer().getDecayEnd()).isEqualTo(500);
    assertThat(d.getInnerOptimizer().getDecayFloor()).isEqualTo(0.05);
    assertThat(RunSpec.of(d)).isEqualTo(decayed);
    // A description written before the horizon was carried reads as no decay.
    d.getInnerOptimizer().put("decayEnd", 0);
    assertThat(RunSpec.of(d).inner().schedule().factor(10_000)).isEqualTo(1.0);
  }

  @Test
  void aRunOfAnotherFamilyIsRefused() {
    ModelDescription d = spec.describe(spec.newModel());
    d.put("family", "mixture-of-experts");
    assertThatThrownBy(() -> RunSpec.of(d)).hasMessageContaining(
        "'s model: model family 'mixture-of-experts' is not trained by this build");
  }

  @Test
  void aModelsParameterCountIsItsLayoutsWithoutBuildingIt() {
    for (String preset : new String[] {"tiny", "small", "llama-2m", "gpt2-mini"}) {
      ModelConfig model = ModelConfig.preset(preset).withContext(16).withVocab(300);
      assertThat(model.parameters()).as(preset).isEqualTo(
          LanguageModel.of(model, 1, 0).layout().totalElements());
    }
    ModelConfig gqaTied = new ModelConfig(ModelConfig.Family.LLAMA, 300, 16, 64, 2, 32, 4, 2,
        48, 1e-6, 5e5, true, "silu");
    assertThat(gqaTied.parameters()).isEqualTo(
        LanguageModel.of(gqaTied, 1, 0).layout().totalElements());
  }

  @Test
  void everyFamilysModelComesBackFromItsDescription() {
    for (ModelConfig model : java.util.List.of(ModelConfig.preset("small"),
        new ModelConfig(ModelConfig.Family.LLAMA, 300, 16, 64, 2, 32, 4, 2, 48, 1e-6, 5e5, true,
            "silu"),
        new ModelConfig(ModelConfig.Family.GPT2, 300, 16, 32, 2, 32, 4, 4, 64, 1e-5, 0, true,
            "relu"))) {
      ModelDescription d = ModelDescription.newBuilder(spec.describe(spec.newModel()))
          .setFamily(model.family().wireName()).setArchitecture(RunSpec.architecture(model))
          .build();
      assertThat(RunSpec.of(d).model()).isEqualTo(model);
    }
  }
}
