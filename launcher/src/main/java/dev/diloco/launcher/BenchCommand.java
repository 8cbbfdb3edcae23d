package dev.diloco.launcher;

import dev.diloco.core.kafka.EmbeddedKafkaBroker;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.reducer.ReducerBenchmark;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code diloco bench}: benchmarks that print their figures beside a baseline of the same run. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = "Benchmarks; each prints its figures beside a baseline measured in the same run.",
    subcommands = {BenchCommand.ReducerBench.class})
final class BenchCommand implements Runnable {

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

    @Option(names = "--workers", defaultValue = "4", paramLabel = "N",
        description = "Simulated workers (default: ${DEFAULT-VALUE}).")
    int workers;

    @Option(names = "--params", defaultValue = "67108864", paramLabel = "P",
        description = "Parameters of the model (default: ${DEFAULT-VALUE}).")
    int parameters;

    @Option(names = "--chunk-elements", defaultValue = "524288", paramLabel = "N",
        description = "Elements per chunk (default: ${DEFAULT-VALUE}).")
    int chunkElements;

    @Option(names = "--partitions", defaultValue = "4", paramLabel = "N",
        description = "Partitions of the pseudo-gradient topic (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--streams-config", paramLabel = "KEY=VALUE",
        description = "A Kafka Streams setting for the reducer, over its own (repeatable), e.g. "
            + "commit.interval.ms=1000, to compare settings.")
    java.util.Map<String, String> streamsConfig = new java.util.HashMap<>();

    @Override
    public Integer call() throws Exception {
      var settings = new ReducerBenchmark.Settings(workers, parameters, chunkElements, partitions);
      Path state = Files.createTempDirectory("diloco-bench-state-");
      try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.builder().start()) {
        ReducerBenchmark.run(settings, KafkaClientConfig.of(broker.bootstrapServers()), state,
            streamsConfig)
            .print(System.out, settings);
      } finally {
        try (var paths = Files.walk(state)) {
          paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
      }
      return 0;
    }
  }
}
