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
