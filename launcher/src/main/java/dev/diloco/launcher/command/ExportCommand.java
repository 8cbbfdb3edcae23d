package dev.diloco.launcher.command;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.layout.Safetensors;
import dev.diloco.core.log.RoundLog;
import dev.diloco.launcher.options.RunSource;
import dev.diloco.launcher.options.RunTokenizer;
import dev.diloco.launcher.options.RunSourceOptions;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.hf.HfCheckpoint;
import dev.diloco.worker.hf.HfConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code diloco export}: the weights of a committed round as a safetensors file, or as a
 * Hugging Face checkpoint directory.
 */
@Command(
    name = "export",
    mixinStandardHelpOptions = true,
    description = "Writes the weights of a committed round, after checking every chunk's CRC and "
        + "the round's SHA-256: as one safetensors file named by the model's parameter layout, "
        + "or (--format hf, llama and gpt2 models) as a Hugging Face checkpoint directory that "
        + "AutoModelForCausalLM.from_pretrained loads: config.json, generation_config.json, "
        + "model.safetensors and the tokenizer (--tokenizer). Reads a run directory left by "
        + "diloco run (RUN_DIR) or a cluster (--bootstrap-servers and --run).")
public final class ExportCommand implements Callable<Integer> {

  @Mixin
  RunSourceOptions source;

  @Option(names = "--dir", paramLabel = "RUN_DIR",
      description = "The run directory, as an option (the same as RUN_DIR).")
  Path dir;

  @Option(names = "--round", required = true, paramLabel = "N", description = "The round.")
  int round;

  @Option(names = "--out", required = true, paramLabel = "PATH",
      description = "The safetensors file to write, or with --format hf a new directory.")
  Path out;

  @Option(names = "--format", defaultValue = "safetensors", paramLabel = "FORMAT",
      description = "safetensors or hf (default: ${DEFAULT-VALUE}).")
  String format;

  @Option(names = "--tokenizer", paramLabel = "FILE",
      description = "With --format hf: the run's tokenizer.json, copied beside the weights (it "
          + "must be the one the run's description names; default: the copy in RUN_DIR/tokens "
          + "when diloco run --tokenizer made it).")
  Path tokenizer;

  @Override
  public Integer call() throws Exception {
    try (RunSource opened = source.open(dir)) {
      String id = opened.runId();
      RoundLog log = new RoundLog(opened.topics(), opened.clients(), KafkaClientConfig.READ_TIMEOUT);
      ModelDescription model = log.model().orElseThrow(() -> new IllegalStateException(
          "run " + id + " has no model description"));
      RoundCommit commit = log.commit(round).orElseThrow(() -> new IllegalStateException(
          "run " + id + " has no committed round " + round));
      ParameterLayout layout = ParameterLayout.fromSpec(model.getLayout());
      boolean hf = switch (format) {
        case "safetensors" -> false;
        case "hf" -> true;
        default -> throw new IllegalArgumentException("--format must be safetensors or hf, got '"
            + format + "'");
      };
      ModelConfig config = RunSpec.of(model).model();
      if (hf) {
        requireNewDirectory(out);
        if (tokenizer == null) { // diloco run --tokenizer keeps a copy in the run directory
          tokenizer = RunTokenizer.inRunDirectory(source.dir() != null ? source.dir() : dir,
              model);
        }
        HfConfig.write(config, null, null); // refuses a family with no Hugging Face form, first
      } else if (tokenizer != null) {
        throw new IllegalArgumentException("--tokenizer is copied with --format hf only");
      }
      RunTokenizer.requireRuns(tokenizer, model);
      float[] weights = log.weights(commit, ParameterLayout.chunkPlan(model.getLayout()));
      if (hf) {
        HfCheckpoint.write(out, config, layout, weights, model.getArchitecture().getHfConfig(),
            model.getEndOfText());
        if (tokenizer != null) {
          Files.copy(tokenizer, out.resolve("tokenizer.json"));
        } else if (model.getTokenizerSha256() != null) {
          System.out.printf("run %s reads tokens: give its tokenizer (--tokenizer) to have it "
              + "copied beside the weights%n", id);
        }
      } else {
        Safetensors.write(out, layout, weights);
      }
      System.out.printf("round %d of run %s: %,d parameters in %d tensors written to %s%n",
          round, id, layout.totalElements(), layout.tensors().size(), out);
    }
    return 0;
  }

  private static void requireNewDirectory(Path dir) throws java.io.IOException {
    if (Files.isRegularFile(dir)) {
      throw new IllegalArgumentException("--out " + dir + " is a file; --format hf writes a "
          + "directory");
    }
    if (Files.isDirectory(dir)) {
      try (var entries = Files.list(dir)) {
        if (entries.findAny().isPresent()) {
          throw new IllegalArgumentException("--out " + dir + " is not empty: a checkpoint is "
              + "written in a new directory");
        }
      }
    }
  }
}
