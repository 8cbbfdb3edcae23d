package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.worker.ModelConfig.Family;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The cached forward pass of llama and gpt2 gives their graph's logits at every position, for
 * grouped-query heads, tied and untied heads, and each GPT-2 activation; sampling repeats for a
 * seed and goes past the window.
 */
class HfSamplerTest {

  @Test
  void theCachedForwardPassGivesTheGraphsLogitsAtEveryPosition() {
    for (ModelConfig config : List.of(
        new ModelConfig(Family.LLAMA, 300, 16, 64, 2, 32, 4, 2, 48, 1e-6, 5e5, true, "silu"),
        new ModelConfig(Family.LLAMA, 300, 16, 64, 2, 32, 4, 4, 48, 1e-5, 1e4, false, "silu"),
        new ModelConfig(Family.GPT2, 300, 16, 32, 2, 32, 4, 4, 64, 1e-5, 0, true, "gelu_new"),
        new ModelConfig(Family.GPT2, 300, 16, 16, 1, 32, 4, 4, 64, 1e-5, 0, false, "gelu"),
        new ModelConfig(Family.GPT2, 300, 16, 16, 1, 32, 4, 4, 64, 1e-5, 0, true, "relu"))) {
      LanguageModel model = LanguageModel.of(config, 1, 3);
      float[] w = new float[(int) model.layout().totalElements()];
      SplittableRandom random = new SplittableRandom(5);
      for (int i = 0; i < w.length; i++) {
        w[i] = (float) (random.nextDouble() - 0.5);
      }
      model.setParameters(w);
      int t = config.contextLength();
      int v = config.vocab();
      int[][] window = new int[1][t + 1];
      for (int i = 0; i <= t; i++) {
        window[0][i] = random.nextInt(v);
      }
      float[] expected = model.logits(window); // [T, V]
      HfSampler sampler = new HfSampler(config, model.layout(), w);
      float worst = 0;
      float scale = 0;
      for (int j = 0; j < t; j++) {
        float[] row = sampler.next(window[0][j]); // [V]
        for (int k = 0; k < v; k++) {
          worst = Math.max(worst, Math.abs(row[k] - expected[j * v + k]));
          scale = Math.max(scale, Math.abs(expected[j * v + k]));
        }
      }
      assertThat(scale).as("the logits' size, %s", config).isGreaterThan(1f);
      assertThat(worst).as("largest difference to the graph's logits, %s", config)
          .isLessThan(1e-4f * scale);
      int[] first = sampler.generate(new int[] {1, 2, 3}, 40, 0.8, 7); // past T = 16
      assertThat(first).hasSize(40).isEqualTo(sampler.generate(new int[] {1, 2, 3}, 40, 0.8, 7));
      assertThat(first).isNotEqualTo(sampler.generate(new int[] {1, 2, 3}, 40, 0.8, 8));
    }
  }
}
