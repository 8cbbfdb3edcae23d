package dev.diloco.launcher;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.layout.Safetensors;
import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.OuterMethod;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.worker.AdamW;
import dev.diloco.worker.ByteTransformer;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.RunSpec;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** What a new run is: the options of {@code diloco run} and {@code diloco optimizer --start}. */
final class RunSpecOptions {

  @Option(names = "--model", defaultValue = "tiny", paramLabel = "PRESET",
      description = "Model preset: tiny, small, medium or large (default: ${DEFAULT-VALUE}).")
  String model;

  @Option(names = "--batch", defaultValue = "8", paramLabel = "B",
      description = "Sequences per inner step on each worker (default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--inner-steps", defaultValue = "50", paramLabel = "H",
      description = "Inner steps per round, H (default: ${DEFAULT-VALUE}).")
  int innerSteps;

  @Option(names = "--inner-lr", defaultValue = "3e-3", paramLabel = "LR",
      description = "Inner AdamW learning rate (default: ${DEFAULT-VALUE}).")
  double innerLr;

  @Option(names = "--inner-betas", defaultValue = "0.9,0.95", split = ",", paramLabel = "B1,B2",
      description = "Inner AdamW betas (default: ${DEFAULT-VALUE}, as OpenDiLoCo).")
  double[] innerBetas;

  @Option(names = "--inner-weight-decay", defaultValue = "0.1", paramLabel = "WD",
      description = "Inner AdamW decoupled weight decay (default: ${DEFAULT-VALUE}).")
  double innerWeightDecay;

  @Option(names = "--inner-clip", defaultValue = "1.0", paramLabel = "NORM",
      description = "Inner gradient-norm clip; 0 for none (default: ${DEFAULT-VALUE}).")
  double innerClip;

  @Option(names = "--inner-warmup-steps", defaultValue = "0", paramLabel = "N",
      description = "Inner learning-rate warm-up steps on each worker (default: ${DEFAULT-VALUE}).")
  int innerWarmup;

  @Option(names = "--outer-method", defaultValue = "nesterov", paramLabel = "METHOD",
      description = "Outer update: nesterov, momentum or sgd (default: ${DEFAULT-VALUE}).")
  String outerMethod;

  @Option(names = "--outer-lr", defaultValue = "0.7", paramLabel = "LR",
      description = "Outer learning rate (default: ${DEFAULT-VALUE}, as DiLoCo).")
  double outerLr;

  @Option(names = "--outer-momentum", defaultValue = "0.9", paramLabel = "MU",
      description = "Outer momentum (default: ${DEFAULT-VALUE}, as DiLoCo).")
  double outerMomentum;

  @Option(names = "--codec", defaultValue = "fp16", paramLabel = "CODEC",
      description = "Pseudo-gradient encoding: fp16 or fp32 (default: ${DEFAULT-VALUE}).")
  String codec;

  @Option(names = "--seed", defaultValue = "1", paramLabel = "S",
      description = "Seed of the initial weights and the data order (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--chunk-elements", defaultValue = "524288", paramLabel = "N",
      description = "Elements per chunk on the wire (default: ${DEFAULT-VALUE}).")
  int chunkElements;

  @Option(names = "--init", paramLabel = "FILE",
      description = "Start from the weights in this safetensors checkpoint (e.g. one written by "
          + "diloco export) instead of the seed's: its tensors must be the model's, by name "
          + "and shape.")
  Path init;

  /** The weights round 0 starts from: the checkpoint's, or the model's seeded ones. */
  static float[] initialWeights(ByteTransformer model, Path init) throws IOException {
    if (init != null) {
      return Safetensors.read(init, model.layout());
    }
    float[] initial = new float[Math.toIntExact(model.layout().totalElements())];
    model.parameters(initial);
    return initial;
  }

  RunSpec spec(String runId) {
    PayloadFormat format = switch (codec) {
      case "fp16" -> PayloadFormat.FP16;
      case "fp32" -> PayloadFormat.FP32;
      default -> throw new IllegalArgumentException("--codec must be fp16 or fp32, got '"
          + codec + "'");
    };
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
    return new RunSpec(runId, ModelConfig.preset(model), batch, innerSteps,
        new AdamW.Config(innerLr, innerBetas[0], innerBetas[1], 1e-8, innerWeightDecay,
            innerClip, innerWarmup, 0, 1.0),
        new OuterOptimizerConfig(method, outerLr, outerMomentum, Averaging.COUNT),
        format, seed, chunkElements);
  }
}
