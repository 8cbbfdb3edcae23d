package dev.diloco.launcher.command;

import dev.diloco.core.kafka.Topics;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.rules.RoundDeadline;
import dev.diloco.launcher.metrics.OptimizerMeters;
import dev.diloco.launcher.options.Durations;
import dev.diloco.launcher.options.MetricsOptions;
import dev.diloco.launcher.options.RunOptions;
import dev.diloco.launcher.options.ModelOptions;
import dev.diloco.launcher.options.RunSpecOptions;
import dev.diloco.optimizer.KeyFile;
import dev.diloco.optimizer.Outcome;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.TrainingData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.errors.WakeupException;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/** {@code diloco optimizer}: the outer optimizer of one run, as its own process. */
@Command(
    name = "optimizer",
    mixinStandardHelpOptions = true,
    description = {
        "Runs the outer optimizer of a run against a Kafka cluster: reads the reducer's sums, "
            + "applies the outer step, and publishes each new round's weights and commit in one "
            + "transaction, until stopped (Ctrl-C or SIGTERM).",
        "With --start it starts a new run (its description and round 0); without, or when the "
            + "run exists, it resumes at the newest committed round, with the same bits after any "
            + "crash. Only one optimizer acts for a run: starting another fences this one."})
public final class OptimizerCommand implements Callable<Integer> {

  @Mixin
  RunOptions run;

  @Option(names = "--outer-warmup-rounds", defaultValue = "0", paramLabel = "N",
      description = "Rounds of linear warm-up of the outer learning rate (default: ${DEFAULT-VALUE}).")
  int warmupRounds;

  @Option(names = "--outer-decay-rounds", defaultValue = "0", paramLabel = "N",
      description = "Round by which a cosine decay reaches --outer-min-factor of the peak rate; "
          + "0 keeps it constant, as DiLoCo does (default: ${DEFAULT-VALUE}).")
  int decayRounds;

  @Option(names = "--outer-min-factor", defaultValue = "0.1", paramLabel = "F",
      description = "Floor of the cosine decay, as a factor of the peak (default: ${DEFAULT-VALUE}).")
  double minFactor;

  @Option(names = "--key", paramLabel = "FILE",
      description = "The key that signs the run's commits (Ed25519), so that workers and replay "
          + "refuse any round it did not write: made here with --start when the file does not "
          + "exist, needed to resume a signed run (default: runs/keys/RUN.key).")
  Path key;

  @Option(names = "--start",
      description = "Start the run when it has no round yet, from the options below (a run that "
          + "exists is resumed, and must have the same parameter layout).")
  boolean start;

  @Option(names = "--round-timeout", paramLabel = "DURATION", converter = Timeout.class,
      description = "With --start: the run's round deadline, after each round's commit, e.g. 90s, "
          + "30m, 2h: the reducer then sums what has a quorum or reports the round failed, and "
          + "the optimizer takes a failure report only once it has passed (default: 30m).")
  Duration roundTimeout;

  @Option(names = "--data", paramLabel = "PATH",
      description = "With --start, for a run on tokens: the directory diloco tokenize wrote (or "
          + "its manifest.json). Its tokenizer sizes the model's vocabulary, and the run's "
          + "description records both, so that a worker given other data is refused.")
  Path data;

  @Option(names = "--vocab-size", defaultValue = "0", paramLabel = "N",
      description = "With --data, for a token file without a manifest (llm.c's, or nanoGPT's "
          + "headerless .bin): its vocabulary, the model's.")
  int vocabSize;

  @Mixin
  RunSpecOptions spec;

  @Spec
  picocli.CommandLine.Model.CommandSpec command;

  @Mixin
  MetricsOptions metrics;

  @Override
  public Integer call() throws Exception {
    WarmupCosine schedule = new WarmupCosine(warmupRounds, decayRounds,
        decayRounds == 0 ? 1.0 : minFactor);
    String runId = run.runId();
    if ((roundTimeout != null || data != null) && !start) {
      throw new ParameterException(command.commandLine(), (roundTimeout != null
          ? "--round-timeout" : "--data") + " is the run's, set once with --start; a run that "
          + "exists keeps the one in its description");
    }
    if (vocabSize != 0 && data == null) {
      throw new ParameterException(command.commandLine(), "--vocab-size is the vocabulary of "
          + "the tokens given with --data, and there are none");
    }
    TrainingData tokens = data == null ? null : TrainingData.load(data, 0.1, vocabSize);
    if (start) {
      Topics.requireReady(run.clients(), run.topics(), spec.chunkElements());
    } else {
      RoundLog.requireReady(run.clients(), run.topics());
    }
    Path keyFile = key != null ? key : Path.of("runs", "keys", runId + ".key");
    boolean made = start && !Files.exists(keyFile);
    KeyPair signer = start || Files.exists(keyFile)
        ? KeyFile.load(keyFile, start) : null;
    if (made) {
      System.out.printf("made the key of run %s in %s: keep it, the optimizer needs it to "
          + "resume the run%n", runId, keyFile);
    }
    CountDownLatch finished = new CountDownLatch(1);
    try (MetricsOptions.Served served = metrics.serve(run.topics(), "optimizer");
        OuterOptimizer optimizer = new OuterOptimizer(runId, run.clients(), schedule, signer)) {
      OptimizerMeters meters = new OptimizerMeters(served.registry(), runId);
      Outcome opened;
      if (start) {
        RunSpec described = tokens == null ? spec.fitToBytes(spec.spec(runId))
            : spec.fitTo(spec.spec(runId), tokens);
        LanguageModel model = described.newModel();
        ModelDescription description = ModelDescription.newBuilder(
            ModelOptions.withCheckpointConfig(tokens == null ? described.describe(model)
                : tokens.describe(described.describe(model)), spec.init()))
            .setRoundTimeoutMs((roundTimeout == null ? RoundDeadline.DEFAULT : roundTimeout)
                .toMillis()).build();
        opened = optimizer.open(description, ModelOptions.initialWeights(model, spec.init()));
      } else {
        opened = optimizer.open(null, null);
      }
      meters.opened(opened, optimizer.newestCommit());
      Thread stopper = new Thread(() -> {
        optimizer.wakeup();
        awaitQuietly(finished);
      }, "optimizer-shutdown");
      Runtime.getRuntime().addShutdownHook(stopper);
      System.out.printf("outer optimizer of run %s at round %d%n", runId, optimizer.round());
      try {
        Outcome polled = opened;
        while (!(polled instanceof Outcome.Fenced)) {
          polled = optimizer.pollOnce(Duration.ofSeconds(1));
          meters.record(polled);
        }
        System.err.println(((Outcome.Fenced) polled).message());
        return 1;
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

  /** A duration that a run's round deadline accepts ({@link RoundDeadline}). */
  static final class Timeout implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
      Duration d = new Durations().convert(value);
      try {
        return new RoundDeadline(d).timeout();
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException(e.getMessage());
      }
    }
  }
}
