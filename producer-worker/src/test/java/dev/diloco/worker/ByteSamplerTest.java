package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ByteSamplerTest {

  private static final ModelConfig MODEL = new ModelConfig(16, 2, 32, 4, 64);

  /** Weights far from the initial ones, so that every part of the forward pass matters. */
  private static LanguageModel trained() {
    LanguageModel model = LanguageModel.of(MODEL, 1, 3);
    float[] w = new float[(int) model.layout().totalElements()];
    SplittableRandom random = new SplittableRandom(5);
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (random.nextDouble() - 0.5) * 1.5f;
    }
    model.setParameters(w);
    return model;
  }

  @Test
  void theCachedForwardPassGivesTheModelsLogitsAtEveryPosition() {
    LanguageModel model = trained();
    float[] w = new float[(int) model.layout().totalElements()];
    model.parameters(w);
    int t = MODEL.contextLength();
    int[][] window = new int[1][t + 1];
    SplittableRandom random = new SplittableRandom(9);
    for (int i = 0; i <= t; i++) {
      window[0][i] = random.nextInt(256);
    }
    float[] expected = model.logits(window); // [T, V]
    ByteSampler sampler = new ByteSampler(MODEL, model.layout(), w);
    float worst = 0;
    float scale = 0;
    for (int j = 0; j < t; j++) {
      float[] row = sampler.next(window[0][j]); // [V]
      for (int k = 0; k < row.length; k++) {
        worst = Math.max(worst, Math.abs(row[k] - expected[j * 256 + k]));
        scale = Math.max(scale, Math.abs(expected[j * 256 + k]));
      }
    }
    assertThat(scale).as("the logits' size").isGreaterThan(1f);
    assertThat(worst).as("largest difference to SameDiff's logits").isLessThan(1e-4f * scale);
  }

  @Test
  void samplesAreTheSameForTheSameSeedAndGoPastTheContext() {
    LanguageModel model = trained();
    float[] w = new float[(int) model.layout().totalElements()];
    model.parameters(w);
    ByteSampler sampler = new ByteSampler(MODEL, model.layout(), w);
    String a = sampler.sample(100, 0.8, 1); // 100 bytes with a context of 16
    assertThat(a.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1).length)
        .isLessThanOrEqualTo(400);
    assertThat(sampler.sample(100, 0.8, 1)).isEqualTo(a);
    assertThat(sampler.sample(100, 0.8, 2)).isNotEqualTo(a);
  }

  @Test
  void badArgumentsAreRefusedByName() {
    LanguageModel model = trained();
    float[] w = new float[(int) model.layout().totalElements()];
    assertThatThrownBy(() -> new ByteSampler(MODEL, model.layout(), new float[3]))
        .hasMessageContaining("weights of 3 elements");
    ByteSampler sampler = new ByteSampler(MODEL, model.layout(), w);
    assertThatThrownBy(() -> sampler.sample(5, 0, 1)).hasMessageContaining("temperature 0.0");
    assertThatThrownBy(() -> sampler.sample(-1, 1, 1)).hasMessageContaining("length -1");
  }
}
