package dev.diloco.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.ModelConfig.Family;
import java.util.SplittableRandom;
import org.assertj.core.data.Offset;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Transformer}'s own ops and the SameDiff graphs ({@link LlamaGraph}, {@link Gpt2Graph},
 * {@link ByteGptGraph}: what other backends run) are one model: the same initial weights bit for bit, and the same
 * loss, gradient and logits to float rounding, on weights moved away from their
 * initialisation. Llama with grouped-query heads (2 query heads a key-value head) untied, and
 * one key-value head per query head tied; GPT-2 with each activation, its positions table
 * longer than the window, and untied; the byte model.
 */
class ImplementationsTest {

  static Stream<ModelConfig> configs() {
    return Stream.of(
        new ModelConfig(Family.LLAMA, 97, 12, 64, 2, 32, 4, 2, 40, 1e-5, 10_000, false, "silu"),
        new ModelConfig(Family.LLAMA, 97, 12, 64, 2, 32, 4, 4, 40, 1e-5, 10_000, true, "silu"),
        new ModelConfig(Family.GPT2, 97, 12, 20, 2, 32, 4, 4, 48, 1e-5, 0, true, "gelu_new"),
        new ModelConfig(Family.GPT2, 97, 12, 12, 2, 32, 4, 4, 48, 1e-5, 0, true, "gelu"),
        new ModelConfig(Family.GPT2, 97, 12, 16, 2, 32, 4, 4, 48, 1e-5, 0, false, "relu"),
        new ModelConfig(12, 2, 32, 4, 48, 97));
  }

  @ParameterizedTest
  @MethodSource("configs")
  void theOwnOpsComputeWhatTheGraphComputes(ModelConfig config) {
    LanguageModel own = new Transformer(config, 3, 5);
    LanguageModel graph = new SameDiffModel(config, 3, 5);
    int n = (int) own.layout().totalElements();
    assertThat(own.layout()).isEqualTo(graph.layout());
    float[] ownInit = new float[n];
    float[] graphInit = new float[n];
    own.parameters(ownInit);
    graph.parameters(graphInit);
    assertThat(ownInit).isEqualTo(graphInit);

    SplittableRandom random = new SplittableRandom(3);
    for (int i = 0; i < n; i++) {
      ownInit[i] += (float) random.nextDouble(-0.2, 0.2);
    }
    own.setParameters(ownInit);
    graph.setParameters(ownInit);
    int[][] windows = new int[3][13];
    for (int[] w : windows) {
      for (int i = 0; i < w.length; i++) {
        w[i] = random.nextInt(97);
      }
    }
    float[] ownGrad = new float[n];
    float[] graphGrad = new float[n];
    float ownLoss = own.lossAndGradient(windows, ownGrad);
    float graphLoss = graph.lossAndGradient(windows, graphGrad);
    assertThat(ownLoss).isCloseTo(graphLoss, Offset.offset(2e-5f));
    assertThat(own.loss(windows)).isCloseTo(ownLoss, Offset.offset(1e-6f));
    float largest = 0;
    for (float g : graphGrad) {
      largest = Math.max(largest, Math.abs(g));
    }
    for (int i = 0; i < n; i++) {
      assertThat(ownGrad[i]).as("gradient element %d", i)
          .isCloseTo(graphGrad[i], Offset.offset(1e-4f * largest));
    }
    float[] ownLogits = own.logits(windows);
    float[] graphLogits = graph.logits(windows);
    for (int i = 0; i < ownLogits.length; i++) {
      assertThat(ownLogits[i]).isCloseTo(graphLogits[i], Offset.offset(1e-4f));
    }
  }
}
