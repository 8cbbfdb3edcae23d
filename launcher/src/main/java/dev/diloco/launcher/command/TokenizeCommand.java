package dev.diloco.launcher.command;

import dev.diloco.tokens.Manifest;
import dev.diloco.tokens.TokenizerFile;
import dev.diloco.tokens.Tokenize;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code diloco tokenize}: text into token shards that workers map from disk. */
@Command(
    name = "tokenize",
    mixinStandardHelpOptions = true,
    description = {
        "Tokenizes text files, JSON lines and Parquet files (gzipped or not) with a Hugging Face "
            + "tokenizer.json, offline, into token shards in llm.c's layout (uint16 tokens when "
            + "the vocabulary fits, uint32 otherwise), a validation shard (the end of the stream) and "
            + "manifest.json, which names the tokenizer and every shard with its SHA-256.",
        "Documents are separated by the tokenizer's end-of-text token when it has one."})
public final class TokenizeCommand implements Callable<Integer> {

  @Option(names = "--tokenizer", required = true, paramLabel = "FILE",
      description = "The tokenizer.json (Hugging Face tokenizers' format).")
  Path tokenizer;

  @Parameters(arity = "1..*", paramLabel = "INPUT",
      description = "Text files (one document each), JSON lines (.jsonl, .ndjson, .json: one "
          + "document a line), Parquet (.parquet: one document a row), any gzipped, or "
          + "directories of them (in name order).")
  List<Path> inputs;

  @Option(names = "--out", required = true, paramLabel = "DIR",
      description = "Where the shards and manifest.json go: a new or empty directory.")
  Path out;

  /** JSON lines' text field, unless --field says. */
  static final String DEFAULT_FIELD = "text";
  /** Tokens per training shard, unless --shard-tokens says: llm.c's. */
  static final long DEFAULT_SHARD_TOKENS = 100_000_000L;

  @Option(names = "--field", defaultValue = DEFAULT_FIELD, paramLabel = "NAME",
      description = "The text's field in JSON lines, its string column in Parquet (default: "
          + "${DEFAULT-VALUE}).")
  String field;

  @Option(names = "--shard-tokens", defaultValue = "" + DEFAULT_SHARD_TOKENS, paramLabel = "N",
      description = "Tokens per training shard (default: ${DEFAULT-VALUE}, llm.c's).")
  long shardTokens;

  @ArgGroup(exclusive = true)
  HeldOut heldOut = new HeldOut();

  static final class HeldOut {
    @Option(names = "--val-tokens", paramLabel = "N",
        description = "Hold out the last N tokens as the validation shard.")
    long tokens;

    @Option(names = "--val-fraction", defaultValue = "0.1", paramLabel = "F",
        description = "Hold out this fraction of all tokens, from the end (default: "
            + "${DEFAULT-VALUE}).")
    double fraction = 0.1;
  }

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    PrintWriter err = spec.commandLine().getErr();
    try (TokenizerFile tok = TokenizerFile.load(tokenizer)) {
      ProgressLine progress = new ProgressLine(err);
      Manifest m = Tokenize.run(tok, new Tokenize.Settings(inputs, out, field, shardTokens,
          heldOut.tokens, heldOut.tokens > 0 ? 0 : heldOut.fraction), progress);
      progress.done();
      long val = m.val() == null ? 0 : m.val().tokens();
      PrintWriter o = spec.commandLine().getOut();
      o.printf("%,d tokens of %s (vocabulary %,d, uint%d) from %d inputs: %,d for training in "
          + "%d shards, %,d held out; %s%n", m.trainTokens() + val, tok.path().getFileName(),
          tok.vocabSize(), m.tokenWidth() * 8, m.inputs().size(), m.trainTokens(),
          m.train().size(), val, out.resolve(Manifest.FILE));
      o.printf("%s tokens/s, %s of text per second%n", ProgressLine.count(progress.rate()),
          ProgressLine.bytes(progress.byteRate()));
      o.flush();
    }
    return 0;
  }
}
