package dev.diloco.launcher.command;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.log.RoundLog;
import dev.diloco.launcher.metrics.WorkerMeters;
import dev.diloco.launcher.options.CommandLines;
import dev.diloco.launcher.options.DirectoryPath;
import dev.diloco.launcher.options.Durations;
import dev.diloco.launcher.options.MetricsOptions;
import dev.diloco.launcher.options.RunOptions;
import dev.diloco.launcher.options.RunSpecOptions;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.Overlap;
import dev.diloco.worker.BuiltInCorpus;
import dev.diloco.worker.ByteCorpus;
import dev.diloco.worker.TrainingData;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.Worker;
import dev.diloco.worker.WorkerSettings;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code diloco worker}: one DiLoCo worker of a run, as its own process. */
@Command(
    name = "worker",
    mixinStandardHelpOptions = true,
    description = {
        "Trains as one worker of a run: loads each committed round's weights, runs the run's "
            + "inner steps on its own shard of the data, and publishes its pseudo-gradient. "
            + "The model, batch, inner steps and optimizer come from the run's description.",
        "It joins at the newest committed round; Ctrl-C or SIGTERM makes it leave cleanly. "
            + "With --state-dir a restarted worker continues where it stopped, bit for bit."})
public final class WorkerCommand implements Callable<Integer> {

  /**
   * How long SIGTERM waits for a worker to finish stopping, whatever the cluster's state; with
   * the JVM's own exit, it ends within 10 s.
   */
  static final Duration STOP_BOUND = Duration.ofSeconds(8);

  @Mixin
  RunOptions run;

  @Option(names = "--worker-id", paramLabel = "ID",
      description = "A stable id for this worker (default: host name and --shard).")
  String workerId;

  @Option(names = "--data", paramLabel = "PATH",
      description = "A text file or a directory of them (read as bytes), or the tokens "
          + "diloco tokenize wrote (its directory or manifest.json), or one token file in "
          + "llm.c's layout (default: a built-in synthetic corpus).")
  Path data;

  @Option(names = "--shard", defaultValue = "0", paramLabel = "I",
      description = "Which shard of the training data this worker takes (default: ${DEFAULT-VALUE}).")
  int shard;

  @Option(names = "--shards", defaultValue = "1", paramLabel = "N",
      description = "Into how many shards the training data is cut (default: ${DEFAULT-VALUE}).")
  int shards;

  @Option(names = "--non-iid",
      description = "Take one contiguous region of the data instead of blocks from all of it.")
  boolean nonIid;

  @Option(names = "--rounds", defaultValue = "2147483647", paramLabel = "R",
      description = "Rounds to train before leaving (default: until stopped).")
  int rounds;

  @Option(names = "--until-round", defaultValue = "2147483647", paramLabel = "R",
      description = "Leave once round R is committed: the run's last round (default: never).")
  int untilRound;

  @Option(names = "--state-dir", paramLabel = "DIR", converter = DirectoryPath.class,
      description = "Keep this worker's state (inner optimizer, error-feedback residual, last "
          + "pseudo-gradient) here, saved each round, so that a restart on the same directory "
          + "goes on to the same bits. Without it a restarted worker rejoins from fresh inner "
          + "state and the run differs from then on.")
  Path stateDir;

  @Option(names = "--overlap", paramLabel = "MODE", arity = "0..1", fallbackValue = "eager",
      description = "The overlap mode this worker expects (none, eager or delayed; alone: "
          + "eager). Workers follow the run's description, which diloco run --overlap or "
          + "diloco optimizer --start --overlap sets; a worker given another mode refuses to "
          + "start (default: the run's).")
  String overlap;

  @Option(names = "--wait-for-run", defaultValue = "10m", converter = Durations.class,
      paramLabel = "DURATION",
      description = "How long to wait for the run to start (its optimizer publishes the "
          + "run's description with round 0) before giving up (default: ${DEFAULT-VALUE}).")
  Duration waitForRun;

  @Mixin
  MetricsOptions metrics;

  @Option(names = "--exit-with", paramLabel = "PID", hidden = true,
      description = "Leave when process PID ends (diloco run passes its own, so that no worker "
          + "outlives it).")
  Long exitWith;

  /** One worker as a process of its own: how {@code diloco run} starts its workers. */
  public static void main(String[] args) {
    System.exit(CommandLines.execute(CommandLines.of(new WorkerCommand()), args));
  }

  @Override
  public Integer call() throws Exception {
    if (shard < 0 || shards < 1 || shard >= shards) {
      throw new IllegalArgumentException("--shard must be in 0.." + (shards - 1) + ", got "
          + shard);
    }
    KafkaClientConfig clients = run.clients();
    RunTopics topics = run.topics();
    String runId = run.runId();
    RoundLog.requireReady(clients, topics);
    ModelDescription described = awaitRun(new RoundLog(topics, clients,
        KafkaClientConfig.READ_TIMEOUT), topics);
    RunSpec spec = RunSpec.of(described);
    if (overlap != null && RunSpecOptions.overlap(overlap, "--overlap") != spec.overlap()) {
      throw new IllegalArgumentException("run " + runId + " overlaps its rounds as "
          + spec.overlap().name().toLowerCase(java.util.Locale.ROOT) + " (its description); "
          + "this worker was given --overlap " + overlap + ": workers follow the run's mode");
    }
    int vocab = described.getArchitecture().getVocabSize();
    // Without data a worker trains on built-in bytes: right for a run over bytes, or a
    // checkpoint's model whose vocabulary holds them, and for no run on tokens.
    boolean bytes = vocab == ModelConfig.VOCAB || vocab > ModelConfig.VOCAB
        && described.getArchitecture().getHfConfig() != null
        && described.getTokenizerSha256() == null;
    if (data == null && !bytes) {
      throw new IllegalArgumentException("run " + runId + " trains a model over a vocabulary "
          + "of " + vocab + " tokens: give this worker the run's token data (--data)");
    }
    TrainingData corpus = data != null ? TrainingData.load(data, 0.1, vocab)
        : TrainingData.of(ByteCorpus.of(BuiltInCorpus.generate(1 << 22, 1), 0.1,
            "the built-in corpus"));
    corpus.requireFor(described);
    if (data == null) {
      System.out.println("no --data: training on a built-in synthetic corpus");
    }
    String id = workerId != null ? workerId
        : InetAddress.getLocalHost().getHostName() + "-" + shard;
    LanguageModel model = spec.newModel();
    WorkerSettings settings = new WorkerSettings(runId, id, spec.innerSteps(), spec.inner(),
        spec.format(), spec.seed(), 4, Duration.ofHours(24), stateDir);
    CountDownLatch finished = new CountDownLatch(1);
    try (MetricsOptions.Served served = metrics.serve(topics, "worker");
        Worker worker = new Worker(settings, described, model,
            corpus.shard(shard, shards, nonIid), corpus.eval(), clients)) {
      WorkerMeters meters = new WorkerMeters(served.registry(), runId);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        worker.stop();
        try {
          if (!finished.await(STOP_BOUND.toSeconds(), TimeUnit.SECONDS)) {
            // Its state directory holds its last trained round; nothing of a round is lost.
            System.err.printf("worker %s: not stopped within %d s (it waits on a cluster that "
                + "does not answer): exiting without announcing that it leaves; the reducer "
                + "waits its member grace for it%n", id, STOP_BOUND.toSeconds());
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }, "worker-shutdown"));
      System.out.printf("worker %s of run %s: %,d parameters, shard %d of %d of %s%n", id,
          runId, model.layout().totalElements(), shard, shards, corpus.source());
      if (exitWith != null) {
        watchParent(exitWith, worker);
      }
      worker.run(rounds, untilRound, r -> {
        meters.record(id, r);
        double bits = TrainingData.bitsPerByte(r.evalLoss(), corpus.evalBytesPerToken());
        System.out.printf("round %d  train loss %.3f  eval loss %.3f%s  %,.0f tokens/s  %,d "
                + "bytes sent  compute %.1f s  wait %.2f s  utilisation %.1f%%%s%n",
            r.round(), r.meanInnerLoss(), r.evalLoss(), Double.isNaN(bits) ? ""
                : String.format(" (%.3f bits/byte)", bits), r.tokensPerSecond(), r.bytesPublished(),
            r.computeSeconds(), r.waitSeconds(), 100 * r.computeUtilisation(),
            spec.overlap() != Overlap.NONE && !r.waited() ? "  (weights were there)" : "");
      });
    } finally {
      finished.countDown();
    }
    return 0;
  }

  /**
   * The run's description, once its optimizer has published it: a worker may be started first
   * (a deployment starts its services in any order). Waits at most {@code --wait-for-run}.
   */
  private ModelDescription awaitRun(RoundLog log, RunTopics topics) throws InterruptedException {
    long deadline = System.nanoTime() + waitForRun.toNanos();
    boolean said = false;
    while (true) {
      Optional<ModelDescription> d = log.model();
      if (d.isPresent()) {
        if (said) {
          System.out.printf("run %s has started%n", run.runId());
        }
        return d.get();
      }
      if (System.nanoTime() >= deadline) {
        throw new IllegalStateException("run " + run.runId() + " has not started within "
            + Durations.format(waitForRun) + ": no model description on " + topics.model()
            + " (start its optimizer with --start)");
      }
      if (!said) {
        System.out.printf("run %s has not started yet (no model description on %s): waiting "
            + "up to %s for its optimizer%n", run.runId(), topics.model(),
            Durations.format(waitForRun));
        said = true;
      }
      Thread.sleep(Math.min(1000, Math.max(1, (deadline - System.nanoTime()) / 1_000_000)));
    }
  }

  /** Stops the worker when its parent process ends, however it ended. */
  private static void watchParent(long pid, Worker worker) {
    Thread watcher = new Thread(() -> {
      var parent = ProcessHandle.of(pid);
      while (parent.map(ProcessHandle::isAlive).orElse(false)) {
        try {
          parent.get().onExit().get(1, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException still) {
          // poll again
        } catch (InterruptedException e) {
          return;
        } catch (java.util.concurrent.ExecutionException e) {
          break;
        }
      }
      worker.stop();
    }, "parent-watch");
    watcher.setDaemon(true);
    watcher.start();
  }
}
