package dev.diloco.launcher.local;

import dev.diloco.broker.EmbeddedKafkaBroker;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.log.CommitWatcher;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.launcher.metrics.OptimizerMeters;
import dev.diloco.launcher.metrics.WorkerMeters;
import dev.diloco.launcher.options.ModelOptions;
import dev.diloco.launcher.options.RunSpecOptions;
import dev.diloco.optimizer.KeyFile;
import dev.diloco.optimizer.Outcome;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.reducer.Reducer;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundStats;
import dev.diloco.worker.BuiltInCorpus;
import dev.diloco.tokens.Tokens;
import dev.diloco.worker.ByteCorpus;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.EvalSet;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.TrainingData;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A whole run on one machine: the broker (embedded unless a cluster is given), the run's topics,
 * the optimizer and the reducer in this process, and each worker in a process of its own
 * ({@link WorkerProcesses}). It follows the commits, evaluates every round's weights, shows the
 * progress ({@link ConsoleProgress}) and leaves a run directory behind ({@link RunSummary},
 * {@link RunOutputs}).
 */
public final class LocalRun {

  /** Batches of the held-out slice each round's eval loss is measured on. */
  public static final int EVAL_BATCHES = 4;

  /**
   * What the run is and where it goes. {@code cluster}: null for an embedded broker;
   * {@code init}: a checkpoint to start from, or null for the seed's weights;
   * {@code workerCommand}: the main class (and leading arguments) that runs one worker, given
   * the worker options of {@code diloco worker}.
   */
  public record Plan(RunSpec spec, int workers, int rounds, Path data, boolean nonIid, Path out,
      KafkaClientConfig cluster, int partitions, Path init, List<String> workerCommand) {}

  private final Plan plan;
  private final PrintStream console;
  private final MeterRegistry meters;
  /** The tokenizer beside the run's token data, which decodes its sample; null for bytes. */
  private Path tokenizer;
  /** Whether the run reads bytes of text, which its sample is too. */
  private boolean bytes;
  /** Bytes of text an eval token stands for: bits per byte from nats per token. */
  private double evalBytesPerToken = 1.0;

  /** {@code meters}: where the run's services and its workers' reports are measured. */
  public LocalRun(Plan plan, PrintStream console, MeterRegistry meters) {
    this.plan = plan;
    this.console = console;
    this.meters = meters;
  }

  /** Runs it to the end; returns the summary, with {@code configuration} at its head. */
  public RunSummary run(Map<String, Object> configuration) throws Exception {
    Files.createDirectories(plan.out());
    TrainingData corpus = plan.data() == null ? null
        : TrainingData.load(plan.data(), 0.1, plan.spec().model().vocab());
    tokenizer = corpus == null ? null : corpus.tokenizer();
    bytes = corpus == null || corpus.vocab() == dev.diloco.worker.ModelConfig.VOCAB;
    evalBytesPerToken = corpus == null ? 1.0 : corpus.evalBytesPerToken();
    EmbeddedKafkaBroker broker = plan.cluster() == null
        ? EmbeddedKafkaBroker.builder().logDir(plan.out().resolve("kafka")).start() : null;
    try {
      KafkaClientConfig clients = broker != null
          ? KafkaClientConfig.of(broker.bootstrapServers()) : plan.cluster();
      return runOn(clients, corpus, configuration);
    } finally {
      if (broker != null) {
        broker.close();
      }
    }
  }

  private RunSummary runOn(KafkaClientConfig clients, TrainingData corpus,
      Map<String, Object> configuration) throws Exception {
    RunSpec spec = plan.spec();
    RunTopics topics = new RunTopics(spec.runId());
    Topics.requireReachable(clients, Duration.ofSeconds(15));
    Topics.create(clients, topics.newTopics(plan.partitions(), (short) 1, clients));
    LanguageModel model = spec.newModel();
    float[] initial = ModelOptions.initialWeights(model, plan.init());
    Tokens evalSlice = corpus != null ? corpus.eval()
        : ByteCorpus.of(BuiltInCorpus.generate(1 << 22, 1), 0.1, "built-in").evalTokens();
    EvalSet eval = new EvalSet(evalSlice, EVAL_BATCHES, model.batch(),
        spec.model().contextLength(), spec.seed());
    RunSummary summary = new RunSummary(configuration);
    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<Throwable> optimizerFailed = new AtomicReference<>();
    // The run's commits are signed with a key kept in its directory.
    KeyPair key = KeyFile.load(plan.out().resolve("optimizer.key"), true);
    try (OuterOptimizer optimizer = new OuterOptimizer(spec.runId(), clients,
            WarmupCosine.CONSTANT, key);
        Reducer reducer = new Reducer(new ReducerConfig(spec.runId(), 1,
            ReducerConfig.DEFAULT_CHECK_EVERY, plan.partitions()), clients,
            plan.out().resolve("reducer-state"), meters, Map.of());
        CommitWatcher commits = new CommitWatcher(topics, clients);
        RoundReports reports = new RoundReports(topics, clients,
            new WorkerMeters(meters, spec.runId())::record);
        WorkerProcesses workers = new WorkerProcesses(plan, clients.bootstrapServers(),
            console)) {
      OptimizerMeters optimizerMeters = new OptimizerMeters(meters, spec.runId());
      Outcome opened = optimizer.open(ModelOptions.withCheckpointConfig(corpus == null
          ? spec.describe(model) : corpus.describe(spec.describe(model)), plan.init()), initial);
      optimizerMeters.opened(opened, optimizer.newestCommit());
      reducer.start(Duration.ofMinutes(2));
      Thread optimizing = new Thread(() -> {
        try {
          while (!stop.get()) {
            Outcome polled = optimizer.pollOnce(Duration.ofMillis(200));
            optimizerMeters.record(polled);
            if (polled instanceof Outcome.Fenced fenced) {
              throw new IllegalStateException(fenced.message(), fenced.cause());
            }
          }
        } catch (org.apache.kafka.common.errors.WakeupException stopping) {
          // the run is over
        } catch (RuntimeException | Error e) {
          optimizerFailed.set(e); // the run stops on it, rather than wait for rounds for ever
        }
      }, "outer-optimizer");
      optimizing.setDaemon(true);
      optimizing.start();
      // Whatever ends this process, no worker outlives it.
      Thread shutdown = new Thread(workers::close, "run-shutdown");
      Runtime.getRuntime().addShutdownHook(shutdown);
      try {
        workers.startAll();
        follow(clients, commits, reports, workers, model, eval, summary, () -> {
          Throwable failed = optimizerFailed.get();
          if (failed == null) {
            failed = reducer.awaitFailure(Duration.ZERO).orElse(null);
          }
          if (failed != null) {
            throw new IllegalStateException("the run stopped: " + (optimizerFailed.get() != null
                ? "the outer optimizer" : "the reducer") + " failed: " + failed, failed);
          }
        });
        workers.awaitExit();
      } finally {
        stop.set(true);
        optimizer.wakeup();
        optimizing.join(TimeUnit.SECONDS.toMillis(30));
        removeHook(shutdown);
      }
    }
    return summary;
  }

  /** What the run checks as it goes: that its in-process services are alive. */
  private interface Liveness {
    void check() throws InterruptedException;
  }

  /** Follows the commits up to the last round: one summary row and console line each. */
  private void follow(KafkaClientConfig clients, CommitWatcher commits, RoundReports reports,
      WorkerProcesses workers, LanguageModel model, EvalSet eval, RunSummary summary,
      Liveness services) throws Exception {
    ConsoleProgress progress = new ConsoleProgress(console, plan.rounds(),
        plan.spec().innerSteps());
    RoundLog log = new RoundLog(new RunTopics(plan.spec().runId()), clients,
        KafkaClientConfig.READ_TIMEOUT);
    ChunkPlan chunks = model.layout().chunks(plan.spec().chunkElements());
    AtomicReference<Double> evalLoss = new AtomicReference<>(Double.NaN);
    Gauge.builder("diloco.run.eval.loss", evalLoss, AtomicReference::get)
        .tag("run", plan.spec().runId()).strongReference(true)
        .description("Eval loss of the newest committed weights, on the run's held-out set")
        .register(meters);
    AtomicReference<Double> evalBits = new AtomicReference<>(Double.NaN);
    Gauge.builder("diloco.run.eval.bpb", evalBits, AtomicReference::get)
        .tag("run", plan.spec().runId()).strongReference(true)
        .description("The eval loss in bits per byte of text (NaN when the data does not "
            + "say its bytes): comparable across tokenizers")
        .register(meters);
    long previousCommitMs = 0;
    int next = 0;
    while (next <= plan.rounds()) {
      services.check();
      workers.supervise();
      reports.poll(Duration.ZERO);
      Optional<RoundCommit> c = commits.await(next, Duration.ofSeconds(1));
      if (c.isEmpty()) {
        // The round being trained is the one before the awaited commit.
        progress.steps(next - 1, reports.steps(next - 1));
        continue;
      }
      for (; next <= Math.min(c.get().getRound(), plan.rounds()); next++) {
        RoundCommit commit = commits.round(next).orElseThrow();
        float[] weights = log.weights(commit, chunks);
        model.setParameters(weights);
        double loss = eval.loss(model);
        evalLoss.set(loss);
        double bits = TrainingData.bitsPerByte(loss, evalBytesPerToken);
        evalBits.set(bits);
        RunSummary.Round round = row(commit, loss, Double.isNaN(bits) ? null : bits,
            reports.of(next - 1, commit.getContributors().size(), Duration.ofSeconds(15)),
            previousCommitMs);
        previousCommitMs = commit.getCommittedAtMs();
        summary.add(round);
        progress.round(round);
        if (next == plan.rounds()) {
          RunOutputs.write(plan.out(), plan.spec(), summary, model, weights, console,
              tokenizer, bytes);
        }
      }
    }
  }

  private static RunSummary.Round row(RoundCommit commit, double evalLoss, Double bitsPerByte,
      List<RoundStats> stats, long previousCommitMs) {
    Double trainLoss = commit.getContributors().isEmpty() ? null : commit.getContributors()
        .stream().mapToDouble(Contribution::getMeanInnerLoss).average().orElse(Double.NaN);
    Double utilisation = stats.isEmpty() ? null : stats.stream()
        .mapToDouble(s -> s.getComputeSeconds() / (s.getComputeSeconds() + s.getWaitSeconds()))
        .average().orElse(Double.NaN);
    long bytes = stats.stream().mapToLong(RoundStats::getBytesPublished).sum();
    long received = stats.stream().anyMatch(s -> s.getBytesReceived() < 0) ? -1
        : stats.stream().mapToLong(RoundStats::getBytesReceived).sum();
    double seconds = previousCommitMs == 0 ? 0
        : (commit.getCommittedAtMs() - previousCommitMs) / 1000.0;
    return new RunSummary.Round(commit.getRound(), trainLoss, evalLoss, bitsPerByte,
        commit.getContributors().size(), bytes, received, seconds, utilisation,
        HexFormat.of().formatHex(Checksums.sha256Of(commit)));
  }

  private static void removeHook(Thread hook) {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException exiting) {
      // the JVM is shutting down already: the hook runs
    }
  }
}
