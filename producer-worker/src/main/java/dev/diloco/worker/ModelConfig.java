package dev.diloco.worker;

/**
 * Sizes of the transformer.
 *
 * @param contextLength tokens the model sees at once
 * @param layers transformer blocks
 * @param dModel width of the residual stream
 * @param heads attention heads per block; must divide dModel
 * @param mlpHidden hidden width of each block's MLP
 * @param vocab tokens in the vocabulary: {@link #VOCAB} for bytes, a tokenizer's size otherwise
 */
public record ModelConfig(int contextLength, int layers, int dModel, int heads, int mlpHidden,
    int vocab) {

  /** Bytes: any UTF-8 text trains without a tokenizer. */
  public static final int VOCAB = 256;

  /** 0.14M parameters: about 5k tokens/s on 2 CPU cores. */
  public static final ModelConfig TINY = new ModelConfig(64, 2, 64, 4, 256);
  /** 0.87M parameters. */
  public static final ModelConfig SMALL = new ModelConfig(128, 4, 128, 4, 512);
  /** 10.9M parameters: about 800 tokens/s on 2 CPU cores. */
  public static final ModelConfig MEDIUM = new ModelConfig(256, 6, 384, 6, 1536);
  /** 85.8M parameters, for machines with the compute. */
  public static final ModelConfig LARGE = new ModelConfig(512, 12, 768, 12, 3072);

  /** Over bytes. */
  public ModelConfig(int contextLength, int layers, int dModel, int heads, int mlpHidden) {
    this(contextLength, layers, dModel, heads, mlpHidden, VOCAB);
  }

  public ModelConfig {
    positive("vocab", vocab);
    positive("contextLength", contextLength);
    positive("layers", layers);
    positive("dModel", dModel);
    positive("heads", heads);
    positive("mlpHidden", mlpHidden);
    if (dModel % heads != 0) {
      throw new IllegalArgumentException("heads (" + heads + ") must divide dModel (" + dModel
          + ")");
    }
  }

  /** The same sizes over a vocabulary of {@code size} tokens. */
  public ModelConfig withVocab(int size) {
    return new ModelConfig(contextLength, layers, dModel, heads, mlpHidden, size);
  }

  public static ModelConfig preset(String name) {
    return switch (name) {
      case "tiny" -> TINY;
      case "small" -> SMALL;
      case "medium" -> MEDIUM;
      case "large" -> LARGE;
      default -> throw new IllegalArgumentException("no model preset '" + name
          + "': choose tiny, small, medium or large");
    };
  }

  private static void positive(String name, int value) {
    if (value < 1) {
      throw new IllegalArgumentException(name + " must be >= 1, got " + value);
    }
  }
}
