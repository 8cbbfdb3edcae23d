package dev.diloco.launcher.options;

import dev.diloco.core.codec.BlockCodec;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.Safetensors;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.OuterMethod;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.Overlap;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.worker.AdamW;
import dev.diloco.schemas.ModelArchitecture;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.TrainingData;
import dev.diloco.worker.hf.HfCheckpoint;
import dev.diloco.worker.hf.HfConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** What a new run is: the options of {@code diloco run}, {@code optimizer --start}, benchmarks. */
public final class RunSpecOptions {

  @Mixin
  ModelOptions model;



  @Option(names = "--batch", defaultValue = "8", paramLabel = "B",
      description = "Sequences per inner step on each worker (default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--inner-steps", defaultValue = "50", paramLabel = "H",
      description = "Inner steps per round, H (default: ${DEFAULT-VALUE}).")
  int innerSteps;

  @Option(names = "--inner-lr", defaultValue = "" + AdamW.Config.DEFAULT_LEARNING_RATE,
      paramLabel = "LR",
      description = "Inner AdamW learning rate (default: ${DEFAULT-VALUE}).")
  double innerLr;

  @Option(names = "--inner-betas", split = ",", paramLabel = "B1,B2",
      defaultValue = "" + AdamW.Config.DEFAULT_BETA1 + "," + AdamW.Config.DEFAULT_BETA2,
      description = "Inner AdamW betas (default: ${DEFAULT-VALUE}, as OpenDiLoCo).")
  double[] innerBetas;

  @Option(names = "--inner-weight-decay", paramLabel = "WD",
      defaultValue = "" + AdamW.Config.DEFAULT_WEIGHT_DECAY,
      description = "Inner AdamW decoupled weight decay (default: ${DEFAULT-VALUE}).")
  double innerWeightDecay;

  @Option(names = "--inner-clip", paramLabel = "NORM",
      defaultValue = "" + AdamW.Config.DEFAULT_CLIP,
      description = "Inner gradient-norm clip; 0 for none (default: ${DEFAULT-VALUE}).")
  double innerClip;

  @Option(names = "--inner-warmup-steps", defaultValue = "0", paramLabel = "N",
      description = "Inner learning-rate warm-up steps on each worker (default: ${DEFAULT-VALUE}).")
  int innerWarmup;

  @Option(names = "--inner-decay-end", defaultValue = "0", paramLabel = "STEP",
      description = "The worker's inner step at which a cosine decay after the warm-up reaches "
          + "--inner-lr-floor times the rate, e.g. rounds x H for a decay over the whole run; "
          + "0 keeps the rate (default: ${DEFAULT-VALUE}).")
  int innerDecayEnd;

  @Option(names = "--inner-lr-floor", defaultValue = "0.1", paramLabel = "FACTOR",
      description = "The inner rate at the end of the decay, as a factor of --inner-lr "
          + "(default: ${DEFAULT-VALUE}).")
  double innerLrFloor;

  @Option(names = "--outer-method", defaultValue = "nesterov", paramLabel = "METHOD",
      description = "Outer update: nesterov, momentum or sgd (default: ${DEFAULT-VALUE}).")
  String outerMethod;

  @Option(names = "--outer-lr", paramLabel = "LR",
      defaultValue = "" + OuterStep.DILOCO_LEARNING_RATE,
      description = "Outer learning rate (default: ${DEFAULT-VALUE}, as DiLoCo).")
  double outerLr;

  @Option(names = "--outer-momentum", paramLabel = "MU",
      defaultValue = "" + OuterStep.DILOCO_MOMENTUM,
      description = "Outer momentum (default: ${DEFAULT-VALUE}, as DiLoCo).")
  double outerMomentum;

  @Option(names = "--codec", defaultValue = "fp16", paramLabel = "CODEC",
      description = "Pseudo-gradient encoding: fp32, fp16, bf16, int8 or int4 (integer codes "
          + "with one power-of-two scale per block; default: ${DEFAULT-VALUE}).")
  String codec;

  @Option(names = "--compression", defaultValue = "none", paramLabel = "none|zstd",
      description = "Compression of each pseudo-gradient chunk (default: ${DEFAULT-VALUE}; "
          + "zstd barely shrinks float pseudo-gradients unless --byte-planes).")
  String compression;

  @Option(names = "--byte-planes",
      description = "Send a float codec's element bytes as planes (all high bytes, then all low "
          + "ones), which zstd compresses better.")
  boolean bytePlanes;

  @Option(names = "--block-size", paramLabel = "N", defaultValue = "" + BlockCodec.DEFAULT_BLOCK,
      description = "Elements per scale of int8 and int4 pseudo-gradients, " + BlockCodec.MIN_BLOCK
          + " to " + BlockCodec.MAX_BLOCK + " (default: ${DEFAULT-VALUE}).")
  int blockSize;

  @Option(names = "--error-feedback", negatable = true, paramLabel = "BOOL",
      description = "Whether workers add what the codec left out of their last pseudo-gradient "
          + "to the next (default: on for int8 and int4, off for fp16 and fp32).")
  Boolean errorFeedback;

  @Option(names = "--seed", defaultValue = "1", paramLabel = "S",
      description = "Seed of the initial weights and the data order (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--chunk-elements", paramLabel = "N",
      defaultValue = "" + ChunkPlan.DEFAULT_CHUNK_ELEMENTS,
      description = "Elements per chunk on the wire (default: ${DEFAULT-VALUE}).")
  int chunkElements;

  @Option(names = "--overlap", paramLabel = "MODE", arity = "0..1", fallbackValue = "eager",
      defaultValue = "none",
      description = "Whether workers train on while a round's communication is in flight: "
          + "none (wait for each round's weights), eager (start the next round from the outer "
          + "step applied with the worker's own pseudo-gradient, Kale et al. 2025; what "
          + "--overlap alone means) or delayed (from the last committed weights). Recorded in "
          + "the run's description; the log and replay are the same in every mode "
          + "(default: ${DEFAULT-VALUE}).")
  String overlap;


  /** The overlap mode {@code value} names; {@code option} names the option in the error. */
  public static Overlap overlap(String value, String option) {
    return switch (value) {
      case "none" -> Overlap.NONE;
      case "eager" -> Overlap.EAGER;
      case "delayed" -> Overlap.DELAYED;
      default -> throw new IllegalArgumentException(option + " must be none, eager or delayed, "
          + "got '" + value + "'");
    };
  }


  /** The model: the preset's name, or the checkpoint directory the run starts from. */
  public String model() {
    return model.name();
  }

  /** The checkpoint to start from, or null for the seed's weights. */
  public Path init() {
    return model.init();
  }

  /** The run {@code spec} sized for {@code data} ({@link ModelOptions#fitTo}). */
  public RunSpec fitTo(RunSpec spec, TrainingData data) {
    return model.fitTo(spec, data);
  }

  /**
   * The run {@code spec} sized for the data at {@code data}: a preset's vocabulary is the
   * data's, bytes or its tokenizer's; no data is the built-in corpus, bytes.
   * {@code vocabSize}: the vocabulary of a token file that does not say it, 0 otherwise.
   */
  public RunSpec fitTo(RunSpec spec, Path data, int vocabSize) {
    if (data != null) {
      return fitTo(spec, TrainingData.load(data, 0.1, vocabSize));
    }
    if (vocabSize != 0) {
      throw new IllegalArgumentException("--vocab-size is the vocabulary of the tokens given "
          + "with --data, and there are none");
    }
    return fitToBytes(spec);
  }

  /** The run {@code spec} sized for built-in bytes ({@link ModelOptions#fitToBytes}). */
  public RunSpec fitToBytes(RunSpec spec) {
    return model.fitToBytes(spec);
  }

  public String codec() {
    return codec;
  }

  /** Elements per scale of int8 and int4 pseudo-gradients. */
  public int blockSize() {
    return blockSize;
  }

  public String outerMethod() {
    return outerMethod;
  }

  public int chunkElements() {
    return chunkElements;
  }


  /** Sets H, for a command that fixes it (a benchmark's quick mode). */
  public void setInnerSteps(int h) {
    this.innerSteps = h;
  }


  /** The run these options describe, as run {@code runId}; bad values are refused, named. */
  public RunSpec spec(String runId) {
    ElementCodec elements = codec(codec, blockSize);
    Compression compressed = switch (compression) {
      case "none" -> Compression.NONE;
      case "zstd" -> Compression.ZSTD;
      default -> throw new IllegalArgumentException("--compression must be none or zstd, got '"
          + compression + "'");
    };
    if (bytePlanes && elements.planeWidth() == 0) {
      throw new IllegalArgumentException("--byte-planes is for float codecs (fp32, fp16, bf16); "
          + "--codec is " + codec);
    }
    PayloadFormat format = new PayloadFormat(elements, compressed, bytePlanes);
    boolean feedback = errorFeedback != null ? errorFeedback : elements instanceof BlockCodec;
    if (innerBetas.length != 2) {
      throw new IllegalArgumentException("--inner-betas takes two numbers, e.g. 0.9,0.95");
    }
    OuterMethod method = switch (outerMethod) {
      case "nesterov" -> OuterMethod.NESTEROV;
      case "momentum" -> OuterMethod.MOMENTUM;
      case "sgd" -> OuterMethod.SGD;
      default -> throw new IllegalArgumentException("--outer-method must be nesterov, momentum "
          + "or sgd, got '" + outerMethod + "'");
    };
    if (innerDecayEnd != 0 && innerDecayEnd <= innerWarmup) {
      throw new IllegalArgumentException("--inner-decay-end must be after the warm-up of "
          + innerWarmup + " steps, or 0 for no decay; got " + innerDecayEnd);
    }
    positive("--inner-lr", innerLr); // the outer rate's rule is OuterStep's: 0 is allowed
    if (!(innerLrFloor >= 0 && innerLrFloor <= 1)) {
      throw new IllegalArgumentException("--inner-lr-floor must be in [0, 1], got "
          + innerLrFloor);
    }
    AdamW.Config inner = AdamW.Config.OPENDILOCO.withLearningRate(innerLr)
        .withBetas(innerBetas[0], innerBetas[1]).withWeightDecay(innerWeightDecay)
        .withClip(innerClip).withSchedule(new WarmupCosine(innerWarmup, innerDecayEnd,
            innerDecayEnd == 0 ? 1.0 : innerLrFloor));
    return new RunSpec(runId, model.config(), batch, innerSteps, inner,
        new OuterOptimizerConfig(method, outerLr, outerMomentum, Averaging.COUNT),
        format, feedback, seed, chunkElements, overlap(overlap, "--overlap"));
  }



  private static void positive(String option, double value) {
    if (!(value > 0 && Double.isFinite(value))) {
      throw new IllegalArgumentException(option + " must be a positive number, got " + value);
    }
  }

  /**
   * The codec {@code --codec} names, with {@code --block-size} elements a scale for int8 and
   * int4: what a run sends its pseudo-gradients as. Bad names are refused here, by option.
   */
  public static ElementCodec codec(String codec, int blockSize) {
    return switch (codec) {
      case "fp16" -> TensorCodec.FP16;
      case "fp32" -> TensorCodec.FP32;
      case "bf16" -> TensorCodec.BF16;
      case "int8", "int4" -> {
        if (blockSize < BlockCodec.MIN_BLOCK || blockSize > BlockCodec.MAX_BLOCK) {
          throw new IllegalArgumentException("--block-size must be in [" + BlockCodec.MIN_BLOCK
              + ", " + BlockCodec.MAX_BLOCK + "], got " + blockSize);
        }
        yield new BlockCodec(TensorEncoding.valueOf(codec.toUpperCase(Locale.ROOT)), blockSize);
      }
      default -> throw new IllegalArgumentException("--codec must be fp32, fp16, bf16, int8 or "
          + "int4, got '" + codec + "'");
    };
  }
}
