package dev.diloco.launcher.command;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.log.RoundLog;
import dev.diloco.launcher.options.RunSource;
import dev.diloco.launcher.options.RunSourceOptions;
import dev.diloco.launcher.options.RunTokenizer;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.tokens.TokenizerFile;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.Sampler;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code diloco sample}: text from a committed round's weights. */
@Command(
    name = "sample",
    mixinStandardHelpOptions = true,
    description = "Samples text from the weights of a committed round (checked as export checks "
        + "them), after a prompt, with a cache of past keys and values: seconds, not minutes. A "
        + "run on tokens needs its tokenizer (--tokenizer), which must be the one its "
        + "description names.")
public final class SampleCommand implements Callable<Integer> {

  @Mixin
  RunSourceOptions source;

  @Option(names = "--round", required = true, paramLabel = "N", description = "The round.")
  int round;

  @Option(names = "--prompt", defaultValue = "\n", paramLabel = "TEXT",
      description = "The text to go on from (default: a newline).")
  String prompt;

  @Option(names = "--tokens", defaultValue = "200", paramLabel = "N",
      description = "Tokens (bytes, for a model over bytes) to sample (default: ${DEFAULT-VALUE}).")
  int tokens;

  @Option(names = "--temperature", defaultValue = "0.8", paramLabel = "T",
      description = "Softmax temperature (default: ${DEFAULT-VALUE}).")
  double temperature;

  @Option(names = "--seed", defaultValue = "1", paramLabel = "S",
      description = "The sampling seed: the same text for the same seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--tokenizer", paramLabel = "FILE",
      description = "The run's tokenizer.json (diloco tokenize puts a copy beside the shards; "
          + "default: the copy in RUN_DIR/tokens when diloco run --tokenizer made it).")
  Path tokenizer;

  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    try (RunSource opened = source.open()) {
      RoundLog log = new RoundLog(opened.topics(), opened.clients(),
          KafkaClientConfig.READ_TIMEOUT);
      ModelDescription run = log.model().orElseThrow(() -> new IllegalStateException(
          "run " + opened.runId() + " has no model description"));
      RoundCommit commit = log.commit(round).orElseThrow(() -> new IllegalStateException(
          "run " + opened.runId() + " has no committed round " + round));
      float[] weights = log.weights(commit, ParameterLayout.chunkPlan(run.getLayout()));
      Sampler sampler = Sampler.of(RunSpec.of(run).model(),
          ParameterLayout.fromSpec(run.getLayout()), weights);
      if (tokenizer == null) { // diloco run --tokenizer keeps a copy in the run directory
        tokenizer = RunTokenizer.inRunDirectory(source.dir(), run);
      }
      String text = run.getTokenizerSha256() == null && tokenizer == null
          ? sampler.sample(prompt, tokens, temperature, seed) : throughTokenizer(run, sampler);
      java.io.PrintWriter out = spec.commandLine().getOut();
      out.print(prompt);
      out.println(text);
      out.flush();
    }
    return 0;
  }

  private String throughTokenizer(ModelDescription run, Sampler sampler) {
    if (tokenizer == null) {
      throw new IllegalArgumentException("run " + run.getRunId() + " reads tokens: give its "
          + "tokenizer (--tokenizer FILE, SHA-256 " + run.getTokenizerSha256() + ")");
    }
    RunTokenizer.requireRuns(tokenizer, run);
    try (TokenizerFile tok = TokenizerFile.load(tokenizer)) {
      int vocab = run.getArchitecture().getVocabSize();
      if (tok.vocabSize() > vocab) {
        throw new IllegalArgumentException("tokenizer " + tokenizer + " has a vocabulary of "
            + tok.vocabSize() + "; run " + run.getRunId() + "'s model has " + vocab);
      }
      int[] ids = tok.encode(prompt);
      if (ids.length == 0) {
        ids = new int[] {tok.endOfText().orElse(0)};
      }
      return tok.decode(sampler.generate(ids, tokens, temperature, seed));
    }
  }
}
