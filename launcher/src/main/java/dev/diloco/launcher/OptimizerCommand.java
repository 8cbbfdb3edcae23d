package dev.diloco.launcher;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.optimizer.OuterSchedule;
import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.OuterMethod;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.worker.AdamW;
import dev.diloco.worker.ByteTransformer;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.RunSpec;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.errors.WakeupException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code diloco optimizer}: the outer optimizer of one run, as its own process. */
@Command(
    name = "optimizer",
    mixinStandardHelpOptions = true,
    description = {
        "Runs the outer optimizer of a run against a Kafka cluster: reads the reducer's sums, "
            + "applies the outer step, and publishes each new round's weights and commit in one "
            + "transaction, until stopped (Ctrl-C or SIGTERM).",
        "With --model it starts a new run (its description and round 0); without, or when the "
            + "run exists, it resumes at the newest committed round, with the same bits after any "
            + "crash. Only one optimizer acts for a run: starting another fences this one."})
final class OptimizerCommand implements Callable<Integer> {

  @Mixin
  ClusterOptions cluster;

  @Option(names = "--run", required = true, paramLabel = "ID", description = "The run's id.")
  String runId;

  @Option(names = "--outer-warmup-rounds", defaultValue = "0", paramLabel = "N",
      description = "Rounds of linear warm-up of the outer learning rate (default: ${DEFAULT-VALUE}).")
  int warmupRounds;

  @Option(names = "--outer-decay-rounds", defaultValue = "0", paramLabel = "N",
      description = "Round by which a cosine decay reaches --outer-min-factor of the peak rate; "
          + "0 keeps it constant, as DiLoCo does (default: ${DEFAULT-VALUE}).")
  int decayRounds;

  @Option(names = "--outer-min-factor", defaultValue = "0.1", paramLabel = "F",
      description = "Floor of the cosine decay, as a factor of the peak (default: ${DEFAULT-VALUE}).")
  float minFactor;

  @picocli.CommandLine.ArgGroup(exclusive = false, heading = "%nStarting a new run:%n")
  StartOptions start;

  /** What a new run is: given, it starts the run (or checks the existing one against it). */
  static final class StartOptions {
    @Option(names = "--model", required = true, paramLabel = "PRESET",
        description = "Model preset: tiny, small, medium or large.")
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
        description = "Outer Nesterov momentum (default: ${DEFAULT-VALUE}, as DiLoCo).")
    double outerMomentum;

    @Option(names = "--codec", defaultValue = "fp16", paramLabel = "CODEC",
        description = "Pseudo-gradient encoding: fp16 or fp32 (default: ${DEFAULT-VALUE}).")
    String codec;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S",
        description = "Seed of the initial weights and the data order (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--chunk-elements", defaultValue = "524288", paramLabel = "N",
        description = "Elements per chunk (default: ${DEFAULT-VALUE}).")
    int chunkElements;

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

  @Override
  public Integer call() throws InterruptedException {
    OuterSchedule schedule = new OuterSchedule(warmupRounds, decayRounds,
        decayRounds == 0 ? 1f : minFactor);
    CountDownLatch finished = new CountDownLatch(1);
    try (OuterOptimizer optimizer = new OuterOptimizer(runId, cluster.clients(), schedule,
        OuterOptimizer.Hooks.NONE)) {
      if (start == null) {
        optimizer.open(null, null);
      } else {
        RunSpec spec = start.spec(runId);
        ByteTransformer model = spec.newModel();
        float[] initial = new float[Math.toIntExact(model.layout().totalElements())];
        model.parameters(initial);
        optimizer.open(spec.describe(model), initial);
      }
      Thread stopper = new Thread(() -> {
        optimizer.wakeup();
        awaitQuietly(finished);
      }, "optimizer-shutdown");
      Runtime.getRuntime().addShutdownHook(stopper);
      System.out.printf("outer optimizer of run %s at round %d%n", runId, optimizer.round());
      try {
        while (true) {
          optimizer.pollOnce(Duration.ofSeconds(1));
        }
      } catch (WakeupException stopping) {
        System.out.printf("outer optimizer of run %s stopped at round %d%n", runId,
            optimizer.round());
      }
    } finally {
      finished.countDown();
    }
    return 0;
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
