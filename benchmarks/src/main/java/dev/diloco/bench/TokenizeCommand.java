package dev.diloco.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code diloco bench tokenize}: tokenize throughput beside the tokenizer library's own. */
@Command(
    name = "tokenize",
    mixinStandardHelpOptions = true,
    description = "Times diloco tokenize (a text file to token shards and a manifest) beside the "
        + "tokenizer library's own encode of the same text, in the same run: tokens/s and MB/s.")
final class TokenizeCommand implements Callable<Integer> {

  @Option(names = "--tokenizer", defaultValue = "data/gpt2/tokenizer.json", paramLabel = "FILE",
      description = "The tokenizer.json (default: ${DEFAULT-VALUE}).")
  Path tokenizer;

  @Option(names = "--input", defaultValue = "data/tinyshakespeare.txt", paramLabel = "FILE",
      description = "The text (default: ${DEFAULT-VALUE}).")
  Path input;

  @Option(names = "--copies", defaultValue = "8", paramLabel = "N",
      description = "Copies of the text, end to end (default: ${DEFAULT-VALUE}).")
  int copies;

  @Option(names = "--repeats", defaultValue = "3", paramLabel = "N",
      description = "Runs of each; the best is shown (default: ${DEFAULT-VALUE}).")
  int repeats;

  @Override
  public Integer call() throws Exception {
    if (copies < 1 || repeats < 1) {
      throw new IllegalArgumentException("--copies and --repeats must be >= 1");
    }
    Path dir = Files.createTempDirectory("diloco-bench-tokenize");
    try {
      TokenizeBench.run(new TokenizeBench.Settings(tokenizer, input, copies, repeats, dir),
          System.out);
    } finally {
      BenchCommand.deleteTree(dir);
    }
    return 0;
  }
}
