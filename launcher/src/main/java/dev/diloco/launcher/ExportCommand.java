package dev.diloco.launcher;

import dev.diloco.core.kafka.RoundLog;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.layout.Safetensors;
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
        + "Reads a run directory left by diloco run (--dir) or a cluster (--bootstrap-servers).")
final class ExportCommand implements Callable<Integer> {

  @Mixin
  ClusterOptions cluster;

  @Option(names = "--dir", paramLabel = "RUN_DIR",
      description = "A run directory of diloco run: its broker log is served for the export.")
  Path dir;

  @Option(names = "--run", paramLabel = "ID",
      description = "The run's id (default with --dir: the directory's name).")
  String runId;

  @Option(names = "--round", required = true, paramLabel = "N", description = "The round.")
  int round;

  @Option(names = "--out", required = true, paramLabel = "FILE",
      description = "The safetensors file to write.")
  Path out;

  @Override
  public Integer call() throws Exception {
    try (RunSource source = RunSource.open(dir, cluster, runId)) {
      String id = source.runId();
      RoundLog log = new RoundLog(source.topics(), source.clients(), Duration.ofSeconds(60));
      ModelDescription model = log.model().orElseThrow(() -> new IllegalStateException(
          "run " + id + " has no model description"));
      RoundCommit commit = log.commit(round).orElseThrow(() -> new IllegalStateException(
          "run " + id + " has no committed round " + round));
      ParameterLayout layout = ParameterLayout.fromSpec(model.getLayout());
      float[] weights = log.weights(commit, layout.chunks(model.getLayout().getChunkElements()));
      Safetensors.write(out, layout, weights);
      System.out.printf("round %d of run %s: %,d parameters in %d tensors written to %s%n",
          round, id, layout.totalElements(), layout.tensors().size(), out);
    }
    return 0;
  }
}
