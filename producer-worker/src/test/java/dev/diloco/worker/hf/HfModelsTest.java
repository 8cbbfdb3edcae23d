package dev.diloco.worker.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The llama and gpt2 families compute what Hugging Face's models compute: their logits on the
 * checkpoints in {@code src/test/resources/hf} and OpenDiLoCo's {@code llama-2m-fresh} are those
 * of {@code src/test/python/hf_reference.py}, a NumPy forward pass (float64) written from
 * transformers' modeling_llama.py and modeling_gpt2.py with no code of this project, which also
 * wrote the two random checkpoints (a grouped-query Llama with a tied head and rope_theta 5e5;
 * a GPT-2 with biases and 32 positions, of which the window uses 16).
 */
class HfModelsTest {

  static final Path FRESH = Path.of("..", "data", "hf", "llama-2m-fresh");
  static final Path RESOURCES = Path.of("src", "test", "resources", "hf");

  @Test
  void openDiLoCosLlamaGivesTheReferenceLogits() throws IOException {
    assertLogits(FRESH, RESOURCES.resolve("llama-2m-fresh.logits.f32"));
  }

  @Test
  void aGroupedQueryLlamaWithATiedHeadGivesTheReferenceLogits() throws IOException {
    assertLogits(RESOURCES.resolve("llama-gqa-tied"),
        RESOURCES.resolve("llama-gqa-tied.logits.f32"));
  }

  @Test
  void aGpt2GivesTheReferenceLogits() throws IOException {
    assertLogits(RESOURCES.resolve("gpt2-random"), RESOURCES.resolve("gpt2-random.logits.f32"));
  }

  /**
   * Sampling reads one position's logits, which are that row of the window's; a sampler gives
   * the same tokens for the same seed, past the model's window too.
   */
  @Test
  void samplingReadsThePositionsRowAndRepeatsForASeed() throws IOException {
    Path checkpoint = RESOURCES.resolve("llama-gqa-tied");
    ModelConfig config = HfCheckpoint.config(checkpoint, 16);
    LanguageModel model = LanguageModel.of(config, 1, 0);
    float[] weights = HfCheckpoint.weights(checkpoint, config, model.layout());
    model.setParameters(weights);
    int[][] window = new int[1][17];
    for (int i = 0; i < 17; i++) {
      window[0][i] = (5 * i + 3) % config.vocab();
    }
    float[] all = model.logits(window);
    int v = config.vocab();
    // To the last bits only: BLAS blocks a product of one row otherwise than one of 16.
    assertThat(model.logits(window, 9)).containsExactly(java.util.Arrays.copyOfRange(all, 9 * v,
        10 * v), within(1e-5f));
    dev.diloco.worker.Sampler sampler = dev.diloco.worker.Sampler.of(config, model.layout(),
        weights);
    int[] first = sampler.generate(new int[] {1, 2, 3}, 30, 0.8, 7);
    assertThat(first).hasSize(30).isEqualTo(sampler.generate(new int[] {1, 2, 3}, 30, 0.8, 7));
    assertThat(first).isNotEqualTo(sampler.generate(new int[] {1, 2, 3}, 30, 0.8, 8));
  }

  /** The reference's 16 tokens (37·i + 11 mod V) through the checkpoint, against its logits. */
  private static void assertLogits(Path checkpoint, Path expected) throws IOException {
    ModelConfig config = HfCheckpoint.config(checkpoint, 16);
    LanguageModel model = LanguageModel.of(config, 1, 0);
    model.setParameters(HfCheckpoint.weights(checkpoint, config, model.layout()));
    int v = config.vocab();
    int[][] window = new int[1][17];
    for (int i = 0; i < 17; i++) {
      window[0][i] = (37 * i + 11) % v;
    }
    float[] got = model.logits(window); // [16, V]
    ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(expected)).order(ByteOrder.LITTLE_ENDIAN);
    assertThat(raw.remaining()).isEqualTo(4 * 16 * v);
    double largest = 0;
    for (int i = 0; i < got.length; i++) {
      float want = raw.getFloat(4 * i);
      largest = Math.max(largest, Math.abs(want));
      assertThat(got[i]).as("logit %d of position %d", i % v, i / v).isCloseTo(want,
          within(1e-4f));
    }
    assertThat(largest).as("logits large enough that 1e-4 means something").isGreaterThan(0.3);
  }
}
