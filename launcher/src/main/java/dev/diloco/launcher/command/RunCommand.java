package dev.diloco.launcher.command;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.launcher.local.LocalRun;
import dev.diloco.launcher.local.RunSummary;
import dev.diloco.launcher.options.ClusterOptions;
import dev.diloco.launcher.options.MetricsOptions;
import dev.diloco.launcher.options.RunSpecOptions;
import dev.diloco.tokens.Manifest;
import dev.diloco.tokens.TokenizerFile;
import dev.diloco.tokens.Tokenize;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.TrainingData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code diloco run}: a whole DiLoCo run on this machine, in one command. */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    description = {
        "Trains a model the DiLoCo way on this machine: starts an embedded Kafka broker (or uses "
            + "--bootstrap-servers), the reducer, the outer optimizer and --workers worker "
            + "processes, trains --rounds rounds of --inner-steps inner steps, and stops them all.",
        "The run directory (--out) keeps the broker's log (every round, for audit and replay), "
            + "summary.json, loss.png, the final weights (safetensors) and a text sample."})
public final class RunCommand implements Callable<Integer> {

  @Option(names = "--workers", defaultValue = "3", paramLabel = "N",
      description = "Worker processes (default: ${DEFAULT-VALUE}).")
  int workers;

  @Option(names = "--rounds", defaultValue = "10", paramLabel = "R",
      description = "Outer rounds (default: ${DEFAULT-VALUE}).")
  int rounds;

  @Option(names = "--data", paramLabel = "PATH",
      description = "Training data: a text file or a directory of them (read as bytes), or the "
          + "tokens diloco tokenize wrote (its directory or manifest.json), whose tokenizer "
          + "sizes the model's vocabulary (default: a built-in synthetic corpus).")
  Path data;

  @Option(names = "--out", paramLabel = "DIR",
      description = "The run directory (default: runs/run-DATE-TIME).")
  Path out;

  @Option(names = "--vocab-size", defaultValue = "0", paramLabel = "N",
      description = "The vocabulary of a token file without a manifest (llm.c's, or nanoGPT's "
          + "headerless .bin): the model's. Data with a manifest says its own.")
  int vocabSize;

  @Option(names = "--tokenizer", paramLabel = "FILE",
      description = "A Hugging Face tokenizer.json: the text --data names is tokenized with it "
          + "first, into RUN_DIR/tokens as diloco tokenize writes them (a tenth held out), and "
          + "the run trains on those tokens.")
  Path tokenizer;

  @Option(names = "--non-iid", description = "Give each worker one contiguous region of the data.")
  boolean nonIid;

  @Mixin
  RunSpecOptions options;

  @Option(names = "--partitions", defaultValue = "2", paramLabel = "N",
      description = "Partitions of the chunk topics (default: ${DEFAULT-VALUE}).")
  int partitions;

  /** A cluster to use instead of an embedded broker. */
  @Mixin
  ClusterOptions cluster;

  @Mixin
  MetricsOptions metrics;

  /** The text at {@code text} tokenized by --tokenizer into {@code out}, as diloco tokenize. */
  private Path tokenized(Path text, Path out) {
    if (text == null || TrainingData.isTokens(text)) {
      throw new IllegalArgumentException("--tokenizer tokenizes the text --data names; "
          + (text == null ? "there is none" : text + " holds tokens already"));
    }
    try (TokenizerFile tok = TokenizerFile.load(tokenizer)) {
      ProgressLine progress = new ProgressLine(new java.io.PrintWriter(System.err, true));
      Manifest m = Tokenize.run(tok, new Tokenize.Settings(List.of(text), out,
          TokenizeCommand.DEFAULT_FIELD, TokenizeCommand.DEFAULT_SHARD_TOKENS, 0, 0.1), progress);
      progress.done();
      System.out.printf("tokenized %s with %s: %,d tokens in %s%n", text, tokenizer,
          m.trainTokens() + (m.val() == null ? 0 : m.val().tokens()), out);
    }
    return out;
  }

  /** A run id from the directory's name: its letters and digits, '-' for the rest. */
  static String runIdOf(Path dir) {
    String name = dir.toAbsolutePath().normalize().getFileName() == null ? "run"
        : dir.toAbsolutePath().normalize().getFileName().toString();
    String id = name.replaceAll("[^A-Za-z0-9_-]", "-").replaceFirst("^[_-]+", "");
    id = id.length() > 100 ? id.substring(0, 100) : id;
    return id.isEmpty() ? "run" : id;
  }

  @Override
  public Integer call() throws Exception {
    if (workers < 1 || rounds < 1) {
      throw new IllegalArgumentException("--workers and --rounds must be >= 1, got "
          + workers + " and " + rounds);
    }
    if (data != null && !Files.exists(data)) {
      throw new IllegalArgumentException("data path " + data + " does not exist: give a text "
          + "file or a directory of them, or leave --data out for the built-in corpus");
    }
    if (options.init() != null && !Files.isRegularFile(options.init())
        && !Files.isDirectory(options.init())) {
      throw new IllegalArgumentException("checkpoint " + options.init() + " (--init) does not "
          + "exist: give a Hugging Face checkpoint directory or a safetensors file");
    }
    Path dir = out != null ? out : Path.of("runs", "run-"
        + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    if (Files.isDirectory(dir)) {
      try (var entries = Files.list(dir)) {
        if (entries.findAny().isPresent()) {
          throw new IllegalArgumentException("the run directory " + dir + " is not empty (an "
              + "earlier run's?): a run starts in a new directory; choose another --out");
        }
      }
    } else if (Files.exists(dir)) {
      throw new IllegalArgumentException("--out " + dir + " is a file, not a directory");
    }
    String runId = runIdOf(dir);
    RunSpec spec = options.spec(runId);
    if (tokenizer != null) {
      data = tokenized(data, dir.resolve("tokens"));
    }
    spec = options.fitTo(spec, data, vocabSize);
    KafkaClientConfig clients = cluster.given() ? cluster.clients() : null;

    Map<String, Object> configuration = new LinkedHashMap<>();
    configuration.put("run_id", runId);
    configuration.put("workers", workers);
    configuration.put("rounds", rounds);
    configuration.put("inner_steps", spec.innerSteps());
    configuration.put("model", options.model());
    configuration.put("batch", spec.batch());
    configuration.put("data", data == null ? "built-in synthetic corpus" : data.toString());
    configuration.put("non_iid", nonIid);
    configuration.put("codec", options.codec());
    configuration.put("inner_lr", spec.inner().learningRate());
    configuration.put("inner_betas", List.of(spec.inner().beta1(), spec.inner().beta2()));
    configuration.put("inner_weight_decay", spec.inner().weightDecay());
    configuration.put("inner_clip", spec.inner().clip());
    configuration.put("outer_method", options.outerMethod());
    configuration.put("outer_lr", spec.outer().getLearningRate());
    configuration.put("outer_momentum", spec.outer().getMomentum());
    configuration.put("seed", spec.seed());
    configuration.put("overlap", spec.overlap().name().toLowerCase(java.util.Locale.ROOT));
    configuration.put("init", options.init() == null ? null : options.init().toString());
    configuration.put("kafka", clients == null ? "embedded" : clients.bootstrapServers());

    System.out.printf("run %s: %d workers x %d rounds x %d inner steps, model %s, data %s%n",
        runId, workers, rounds, spec.innerSteps(), options.model(), configuration.get("data"));
    long start = System.nanoTime();
    RunSummary summary;
    try (MetricsOptions.Served served = metrics.serve(new RunTopics(runId), "run")) {
      LocalRun run = new LocalRun(new LocalRun.Plan(spec, workers, rounds, data, nonIid, dir,
          clients, partitions, options.init(), List.of(WorkerCommand.class.getName())),
          System.out, served.registry());
      summary = run.run(configuration);
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    summary.writeJson(dir.resolve("summary.json"), Map.of("wall_seconds", seconds));
    RunSummary.Round first = summary.rounds().get(0);
    RunSummary.Round last = summary.rounds().get(summary.rounds().size() - 1);
    System.out.printf("done in %.0f s: eval loss %.3f at round 0, %.3f at round %d. In %s: "
        + "summary.json, loss.png, final-weights.safetensors, sample.txt, kafka/%n", seconds,
        first.evalLoss(), last.evalLoss(), last.round(), dir);
    return 0;
  }
}
