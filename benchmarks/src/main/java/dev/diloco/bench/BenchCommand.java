package dev.diloco.bench;

import dev.diloco.broker.EmbeddedKafkaBroker;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.layout.ChunkPlan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code diloco bench}: benchmarks that print their figures beside a baseline of the same run. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = "Benchmarks; each prints its figures beside a baseline measured in the same run.",
    subcommands = {ConvergenceCommand.class, BenchCommand.PipelineCommand.class,
        BenchCommand.ReducerBench.class, BenchCommand.MemoryCommand.class, FaultsCommand.class,
        PartitionCommand.class, WanCommand.class, InnerLoopCommand.class,
        TokenizeCommand.class, TokenDataCommand.class})
public final class BenchCommand implements Runnable {

  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  @Command(
      name = "reducer",
      mixinStandardHelpOptions = true,
      description = "Feeds N simulated workers' FP16 pseudo-gradients of P parameters through the "
          + "reducer on an embedded broker, and prints its input MB/s beside the raw produce and "
          + "consume MB/s of the same bytes on the same broker.")
  static final class ReducerBench implements Callable<Integer> {

    @Mixin
    Synthetic synthetic;

    @Option(names = "--params", defaultValue = "67108864", paramLabel = "P",
        description = "Parameters of the model (default: ${DEFAULT-VALUE}).")
    int parameters;

    @Option(names = "--streams-config", paramLabel = "KEY=VALUE",
        description = "A Kafka Streams setting for the reducer, over its own (repeatable), e.g. "
            + "commit.interval.ms=1000, to compare settings.")
    java.util.Map<String, String> streamsConfig = new java.util.HashMap<>();

    @Override
    public Integer call() throws Exception {
      var settings = new ReducerBenchmark.Settings(synthetic.workers, parameters,
          synthetic.chunkElements, synthetic.partitions);
      onEmbeddedBroker((clients, state) -> ReducerBenchmark.run(settings, clients, state,
          streamsConfig).print(System.out, settings));
      return 0;
    }
  }

  @Command(
      name = "memory",
      mixinStandardHelpOptions = true,
      description = "Runs N simulated workers (64 by default) for R rounds through the reducer "
          + "and the optimizer, each a process of its own, on an embedded broker, and prints "
          + "each one's heap in use and live heap (after a full GC, by jcmd) after every round: "
          + "neither may grow with the rounds.")
  static final class MemoryCommand implements Callable<Integer> {

    @Option(names = "--workers", defaultValue = "64", paramLabel = "N",
        description = "Simulated workers (default: ${DEFAULT-VALUE}).")
    int workers;

    @Option(names = "--rounds", defaultValue = "10", paramLabel = "R",
        description = "Rounds (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--params", defaultValue = "262144", paramLabel = "P",
        description = "Parameters (default: ${DEFAULT-VALUE}).")
    int parameters;

    @Option(names = "--heap", defaultValue = "256m", paramLabel = "SIZE",
        description = "-Xmx of the reducer and of the optimizer (default: ${DEFAULT-VALUE}).")
    String heap;

    @Override
    public Integer call() throws Exception {
      var settings = new MemoryBench.Settings(workers, rounds, parameters, 65_536, 4, heap);
      MemoryBench bench = new MemoryBench(settings, System.out);
      onEmbeddedBroker((clients, state) ->
          System.out.printf("%n%s", bench.markdown(bench.run(clients, state))));
      return 0;
    }
  }

  /** Simulated workers' pseudo-gradients, for the benchmarks without a model. */
  static final class Synthetic {
    @Option(names = "--workers", defaultValue = "4", paramLabel = "N",
        description = "Simulated workers (default: ${DEFAULT-VALUE}).")
    int workers;

    @Option(names = "--chunk-elements", defaultValue = "" + ChunkPlan.DEFAULT_CHUNK_ELEMENTS,
        paramLabel = "N",
        description = "Elements per chunk (default: ${DEFAULT-VALUE}).")
    int chunkElements;

    @Option(names = "--partitions", defaultValue = "4", paramLabel = "N",
        description = "Partitions of the chunk topics (default: ${DEFAULT-VALUE}).")
    int partitions;
  }

  interface BrokerJob {
    void run(KafkaClientConfig clients, Path stateDir) throws Exception;
  }

  /** Runs {@code job} on a fresh embedded broker, with a state directory removed afterwards. */
  static void onEmbeddedBroker(BrokerJob job) throws Exception {
    Path state = Files.createTempDirectory("diloco-bench-state-");
    try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.builder().start()) {
      job.run(KafkaClientConfig.of(broker.bootstrapServers()), state);
    } finally {
      deleteTree(state);
    }
  }

  /** Removes {@code dir} and everything under it. */
  static void deleteTree(Path dir) throws java.io.IOException {
    try (var paths = Files.walk(dir)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  @Command(
      name = "pipeline",
      mixinStandardHelpOptions = true,
      description = "Times each stage of a round (encode, publish, reduce, outer step and "
          + "weights, commit, reload) with N simulated workers' FP16 pseudo-gradients of P "
          + "parameters through the real reducer and outer optimizer on an embedded broker, "
          + "beside the raw produce and consume of the same bytes on the same broker; prints "
          + "the round's overhead as a ratio to raw, and the compute utilisation a worker would "
          + "see for a given inner phase. Raise the heap (DILOCO_JAVA_OPTS=-Xmx12g) for 100M.")
  static final class PipelineCommand implements Callable<Integer> {

    @Mixin
    Synthetic synthetic;

    @Option(names = "--params", defaultValue = "16777216", paramLabel = "P",
        description = "Parameters of the model (default: ${DEFAULT-VALUE}).")
    int parameters;

    @Option(names = "--rounds", defaultValue = "4", paramLabel = "R",
        description = "Rounds; the first warms up (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--inner-seconds", split = ",", defaultValue = "10,60,300,1800",
        paramLabel = "S1,S2,...",
        description = "Inner-phase lengths to show the compute utilisation for "
            + "(default: ${DEFAULT-VALUE}).")
    List<Double> innerSeconds;

    @Option(names = "--out", paramLabel = "FILE", description = "Also write the table here.")
    Path out;

    @Override
    public Integer call() throws Exception {
      var settings = new PipelineBench.Settings(synthetic.workers, parameters,
          synthetic.chunkElements, synthetic.partitions, rounds, innerSeconds);
      onEmbeddedBroker((clients, state) -> {
        PipelineBench bench = new PipelineBench(settings, clients, System.out);
        String md = bench.markdown(bench.run(state));
        System.out.printf("%n%s", md);
        if (out != null) {
          Files.writeString(out, md);
        }
      });
      return 0;
    }
  }
}
