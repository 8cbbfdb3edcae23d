package dev.diloco.worker;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.worker.model.Transformer;
import dev.diloco.worker.model.SameDiffModel;

/**
 * A causal language model as DiLoCo sees it: one flat vector of parameters in a fixed {@link
 * #layout()} order (the bytes that move between the model, the inner optimizer and Kafka), a
 * loss and its gradient on windows of tokens, and logits. The worker, evaluation, sampling,
 * export, {@code --init} and the benchmarks use nothing else, whatever the family.
 */
public interface LanguageModel {

  /** A model of {@code config} for batches of {@code batch} windows, seeded by {@code seed}. */
  static LanguageModel of(ModelConfig config, int batch, long seed) {
    return Transformer.runsHere() ? new Transformer(config, batch, seed)
        : new SameDiffModel(config, batch, seed);
  }

  ModelConfig config();

  /** Windows per batch, B. */
  int batch();

  /** The parameters' names, shapes and offsets in the flat vector. */
  ParameterLayout layout();

  /** Copies the parameters into {@code flat}, in layout order. */
  void parameters(float[] flat);

  /** Sets the parameters from {@code flat}, in layout order. */
  void setParameters(float[] flat);

  /**
   * The mean cross-entropy of predicting each next token of the {@code windows} ([B, T + 1]
   * token ids), and its gradient, in layout order, into {@code gradient}.
   */
  float lossAndGradient(int[][] windows, float[] gradient);

  /** The mean cross-entropy of predicting each next token, without gradients. */
  float loss(int[][] windows);

  /**
   * Where the steps' time went since the model was made, in nanoseconds: the embedding's gather
   * and scatter, the head with its cross-entropy, and the blocks forward and backward.
   */
  record Parts(long embeddingNanos, long headNanos, long blocksNanos) {}

  /** The time spent in each part of the steps so far. */
  Parts parts();

  /** Logits [B*T, V] for {@code windows} ([B, T + 1]; the last token of each is not input). */
  float[] logits(int[][] windows);
}
