package dev.diloco.worker;

import java.util.Locale;

/**
 * What model a run trains: its family and sizes, every value that changes the computation.
 *
 * @param family the architecture: {@link Family}
 * @param vocab tokens in the vocabulary: {@link #VOCAB} for bytes, a tokenizer's size otherwise
 * @param contextLength tokens of each training window, T
 * @param maxPositions the longest sequence the model takes: GPT-2's learned positions, Llama's
 *     {@code max_position_embeddings}; at least T
 * @param layers transformer blocks
 * @param dModel width of the residual stream
 * @param heads attention heads per block; must divide dModel
 * @param kvHeads key-value heads (grouped-query attention, Llama only); must divide heads
 * @param mlpHidden hidden width of each block's MLP
 * @param normEps the norms' epsilon, inside the square root
 * @param ropeTheta the base of Llama's rotary position frequencies
 * @param tiedHead whether the output head is the embedding table's transpose
 * @param activation the MLP's: "silu" (Llama), "gelu_new", "gelu" or "relu" (GPT-2), "gelu_sigmoid"
 *     (the byte model's, x·σ(1.702x))
 */
public record ModelConfig(Family family, int vocab, int contextLength, int maxPositions,
    int layers, int dModel, int heads, int kvHeads, int mlpHidden, double normEps,
    double ropeTheta, boolean tiedHead, String activation) {

  /** Bytes: any UTF-8 text trains without a tokenizer. */
  public static final int VOCAB = 256;

  /** The model's computation, named as a run's description names it. */
  public enum Family {
    /** The project's first model, nanoGPT's with our own tensor names (kept so old runs replay). */
    BYTE_TRANSFORMER("byte-transformer"),
    /** Hugging Face's {@code LlamaForCausalLM}. */
    LLAMA("llama"),
    /** Hugging Face's {@code GPT2LMHeadModel}. */
    GPT2("gpt2");

    private final String wireName;

    Family(String wireName) {
      this.wireName = wireName;
    }

    public String wireName() {
      return wireName;
    }

    public static Family of(String name) {
      for (Family f : values()) {
        if (f.wireName.equals(name)) {
          return f;
        }
      }
      throw new IllegalArgumentException("model family '" + name + "' is not trained by this "
          + "build: byte-transformer, llama or gpt2");
    }
  }

  /** 0.14M parameters: about 5k tokens/s on 2 CPU cores. */
  public static final ModelConfig TINY = new ModelConfig(64, 2, 64, 4, 256);
  /** 0.87M parameters. */
  public static final ModelConfig SMALL = new ModelConfig(128, 4, 128, 4, 512);
  /** 10.9M parameters: about 800 tokens/s on 2 CPU cores. */
  public static final ModelConfig MEDIUM = new ModelConfig(256, 6, 384, 6, 1536);
  /** 85.8M parameters, for machines with the compute. */
  public static final ModelConfig LARGE = new ModelConfig(512, 12, 768, 12, 3072);

  /** A byte-transformer over bytes. */
  public ModelConfig(int contextLength, int layers, int dModel, int heads, int mlpHidden) {
    this(contextLength, layers, dModel, heads, mlpHidden, VOCAB);
  }

  /** A byte-transformer over {@code vocab} tokens. */
  public ModelConfig(int contextLength, int layers, int dModel, int heads, int mlpHidden,
      int vocab) {
    this(Family.BYTE_TRANSFORMER, vocab, contextLength, contextLength, layers, dModel, heads,
        heads, mlpHidden, 1e-5, 0, false, "gelu_sigmoid");
  }

  /** A Llama as OpenDiLoCo's configs have it: RMSNorm eps 1e-5, rope_theta 10,000, untied. */
  public static ModelConfig llama(int vocab, int contextLength, int layers, int hidden,
      int heads, int kvHeads, int intermediate) {
    return new ModelConfig(Family.LLAMA, vocab, contextLength, Math.max(2048, contextLength),
        layers, hidden, heads, kvHeads, intermediate, 1e-5, 10_000, false, "silu");
  }

  /** A GPT-2 as Hugging Face's GPT2Config has it: LayerNorm eps 1e-5, gelu_new, tied. */
  public static ModelConfig gpt2(int vocab, int contextLength, int positions, int layers,
      int embd, int heads) {
    return new ModelConfig(Family.GPT2, vocab, contextLength, positions, layers, embd, heads,
        heads, 4 * embd, 1e-5, 0, true, "gelu_new");
  }

  public ModelConfig {
    if (family == null) {
      throw new IllegalArgumentException("a model needs a family");
    }
    positive("vocab", vocab);
    positive("contextLength", contextLength);
    positive("layers", layers);
    positive("dModel", dModel);
    positive("heads", heads);
    positive("kvHeads", kvHeads);
    positive("mlpHidden", mlpHidden);
    if (dModel % heads != 0) {
      throw new IllegalArgumentException("heads (" + heads + ") must divide dModel (" + dModel
          + ")");
    }
    if (heads % kvHeads != 0 || family != Family.LLAMA && kvHeads != heads) {
      throw new IllegalArgumentException("key-value heads (" + kvHeads + ") must divide heads ("
          + heads + ")" + (family == Family.LLAMA ? "" : " and equal them in a " + family
          + " model"));
    }
    if (maxPositions < contextLength) {
      throw new IllegalArgumentException("the context of " + contextLength + " tokens is "
          + "longer than the model's " + maxPositions + " positions");
    }
    if (family == Family.LLAMA && (dModel / heads) % 2 != 0) {
      throw new IllegalArgumentException("rotary embeddings need an even head width; "
          + dModel + " / " + heads + " heads is " + dModel / heads);
    }
    if (!(normEps > 0) || family == Family.LLAMA && !(ropeTheta > 0)) {
      throw new IllegalArgumentException("the norms' epsilon and rope theta must be positive, "
          + "got " + normEps + " and " + ropeTheta);
    }
    String expected = switch (family) {
      case LLAMA -> "silu";
      case GPT2 -> "gelu_new|gelu|relu";
      case BYTE_TRANSFORMER -> "gelu_sigmoid";
    };
    if (activation == null || !activation.matches(expected)) {
      throw new IllegalArgumentException("a " + family.wireName() + " model's activation is "
          + expected.replace("|", " or ") + ", got '" + activation + "'");
    }
  }

  /** The same sizes over a vocabulary of {@code size} tokens. */
  public ModelConfig withVocab(int size) {
    return new ModelConfig(family, size, contextLength, maxPositions, layers, dModel, heads,
        kvHeads, mlpHidden, normEps, ropeTheta, tiedHead, activation);
  }

  /** The same model trained on windows of {@code t} tokens (at most its positions). */
  public ModelConfig withContext(int t) {
    return new ModelConfig(family, vocab, t, family == Family.BYTE_TRANSFORMER ? t : maxPositions,
        layers, dModel, heads, kvHeads, mlpHidden, normEps, ropeTheta, tiedHead, activation);
  }

  /** The parameters of the model: its layout's total, without building it. */
  public long parameters() {
    long c = dModel;
    long m = mlpHidden;
    long table = (long) vocab * c;
    long head = tiedHead ? 0 : table;
    return switch (family) {
      case BYTE_TRANSFORMER -> table + contextLength * c + layers * (4 * c * c + 2 * c * m + m
          + 5 * c) + 2 * c + head;
      case LLAMA -> table + layers * (2 * c * c + 2 * c * headDim() * kvHeads + 3 * c * m
          + 2 * c) + c + head;
      case GPT2 -> table + maxPositions * c + layers * (4 * c * c + 2 * c * m + m + 9 * c)
          + 2 * c + head;
    };
  }

  /** Width of one attention head. */
  public int headDim() {
    return dModel / heads;
  }

  /**
   * A named preset. The byte-transformer's tiny to large; Llama's after OpenDiLoCo's configs
   * (llama-2m is its test model, 14m, 150m and 1b its runs: the last two for GPU hosts); GPT-2's
   * smallest published size (gpt2, 124M) and a CPU size. The vocabulary is the data's when a
   * run has data (bytes or a tokenizer's); these are the defaults.
   */
  public static ModelConfig preset(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "tiny" -> TINY;
      case "small" -> SMALL;
      case "medium" -> MEDIUM;
      case "large" -> LARGE;
      case "llama-2m" -> llama(1024, 128, 2, 64, 2, 2, 256);
      case "llama-14m" -> llama(32_000, 256, 6, 128, 4, 4, 512);
      case "llama-150m" -> llama(32_000, 1024, 12, 1024, 16, 16, 2688);
      case "llama-1b" -> llama(32_000, 1024, 22, 2048, 32, 4, 5632);
      case "gpt2-mini" -> gpt2(50_257, 128, 256, 4, 128, 4);
      case "gpt2" -> gpt2(50_257, 1024, 1024, 12, 768, 12);
      default -> throw new IllegalArgumentException("no model preset '" + name + "': choose "
          + "tiny, small, medium, large (byte-transformer), llama-2m, llama-14m, llama-150m, "
          + "llama-1b, gpt2-mini or gpt2");
    };
  }

  private static void positive(String name, int value) {
    if (value < 1) {
      throw new IllegalArgumentException(name + " must be >= 1, got " + value);
    }
  }
}
