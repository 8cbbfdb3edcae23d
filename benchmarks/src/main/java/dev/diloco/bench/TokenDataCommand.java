package dev.diloco.bench;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code diloco bench data}: workers' heaps while they train on more tokens than they hold. */
@Command(
    name = "data",
    mixinStandardHelpOptions = true,
    description = "Writes G GB of random GPT-2 token ids as shards with a manifest, trains R "
        + "rounds on them with workers each a process at -Xmx HEAP on an embedded broker, and "
        + "prints each worker's heap in use and live heap (after a full GC, by jcmd) after every "
        + "round: the shards are mapped from disk, never read into the heap.")
final class TokenDataCommand implements Callable<Integer> {

  @Option(names = "--gigabytes", defaultValue = "2", paramLabel = "G",
      description = "Gigabytes of tokens (default: ${DEFAULT-VALUE}).")
  double gigabytes;

  @Option(names = "--heap", defaultValue = "512m", paramLabel = "SIZE",
      description = "-Xmx of each worker (default: ${DEFAULT-VALUE}).")
  String heap;

  @Option(names = "--workers", defaultValue = "2", paramLabel = "N",
      description = "Workers (default: ${DEFAULT-VALUE}).")
  int workers;

  @Option(names = "--rounds", defaultValue = "3", paramLabel = "R",
      description = "Rounds (default: ${DEFAULT-VALUE}).")
  int rounds;

  @Option(names = "--inner-steps", defaultValue = "5", paramLabel = "H",
      description = "Inner steps a round (default: ${DEFAULT-VALUE}).")
  int innerSteps;

  @Option(names = "--tokenizer", defaultValue = "data/gpt2/tokenizer.json", paramLabel = "FILE",
      description = "The tokenizer whose vocabulary the ids are of (default: ${DEFAULT-VALUE}).")
  Path tokenizer;

  @Override
  public Integer call() throws Exception {
    TokenDataBench bench = new TokenDataBench(new TokenDataBench.Settings(gigabytes, heap,
        workers, rounds, innerSteps, tokenizer), System.out);
    BenchCommand.onEmbeddedBroker((clients, state) ->
        System.out.printf("%n%s", bench.markdown(bench.run(clients, state))));
    return 0;
  }
}
