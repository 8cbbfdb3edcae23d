package dev.diloco.launcher.command;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.layout.Safetensors;
import dev.diloco.core.log.RoundLog;
import dev.diloco.launcher.options.RunSource;
import dev.diloco.launcher.options.RunSourceOptions;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code diloco export}: the weights of a committed round as a safetensors file. */
@Command(
    name = "export",
    mixinStandardHelpOptions = true,
    description = "Writes the weights of a committed round as a safetensors file named by the "
        + "model's parameter layout, after checking every chunk's CRC and the round's SHA-256. "
        + "Reads a run directory left by diloco run (RUN_DIR) or a cluster (--bootstrap-servers "
        + "and --run).")
public final class ExportCommand implements Callable<Integer> {

  @Mixin
  RunSourceOptions source;

  @Option(names = "--dir", paramLabel = "RUN_DIR",
      description = "The run directory, as an option (the same as RUN_DIR).")
  Path dir;

  @Option(names = "--round", required = true, paramLabel = "N", description = "The round.")
  int round;

  @Option(names = "--out", required = true, paramLabel = "FILE",
      description = "The safetensors file to write.")
  Path out;

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
      float[] weights = log.weights(commit, ParameterLayout.chunkPlan(model.getLayout()));
      Safetensors.write(out, layout, weights);
      System.out.printf("round %d of run %s: %,d parameters in %d tensors written to %s%n",
          round, id, layout.totalElements(), layout.tensors().size(), out);
    }
    return 0;
  }
}
