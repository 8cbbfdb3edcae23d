package dev.diloco.worker.model;

import dev.diloco.worker.ModelConfig;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What a family gives {@link Transformer}: its parameters in layout order, its blocks and its
 * final norm, each over views of the model's flat vectors of weights and of gradients.
 */
interface Architecture {

  /** The family of {@code config}. */
  static Architecture of(ModelConfig config) {
    return switch (config.family()) {
      case LLAMA -> new Llama(config);
      case GPT2 -> new Gpt2(config);
      case BYTE_TRANSFORMER -> new ByteGpt(config);
    };
  }

  /** The {@code count} tensors from {@code name} on, adjacent in the layout, as one view. */
  @FunctionalInterface
  interface Views {
    INDArray of(String name, int count);

    default INDArray of(String name) {
      return of(name, 1);
    }
  }

  /** One block: forward, then backward for that forward pass. */
  interface Block {
    /** The block's output [N, C] of {@code in} [N, C] into {@code out}; keeps what it needs. */
    void forward(INDArray in, INDArray out);

    /**
     * With {@code dx} [N, C] the loss's gradient in the block's output, writes its weights'
     * gradients and turns {@code dx} into the gradient in its input.
     */
    void backward(INDArray dx);
  }

  /** The embedding table's name. */
  String table();

  /** The head's name: the table's when tied; [V, C] either way. */
  String head();

  /** Whether the head is [V, C] (a Linear's [out, in], or the tied table) rather than [C, V]. */
  default boolean headIsVByC() {
    return true;
  }

  /** Declares every parameter in layout order, drawn from {@code p}'s stream. */
  void declare(Parameters p);

  Block[] blocks(Views weights, Views gradients, int batch);

  Norm finalNorm(Views weights, Views gradients, int rows);

  /** Adds the learned positions to {@code embedded} [B*T, C] (GPT-2); none by default. */
  default void addPositions(INDArray embedded, Views weights) {}

  /** Writes the positions' gradient of {@code dEmbedded} [B*T, C]; none by default. */
  default void positionsBackward(INDArray dEmbedded, Views gradients) {}
}
