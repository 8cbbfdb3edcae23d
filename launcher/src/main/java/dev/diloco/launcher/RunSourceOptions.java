package dev.diloco.launcher;

import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Options of the commands that read a run back: a run directory, or a cluster and a run id. */
final class RunSourceOptions {

  @Parameters(arity = "0..1", paramLabel = "RUN_DIR",
      description = "A run directory of diloco run (or give a cluster and --run).")
  Path dir;

  @Mixin
  ClusterOptions cluster;

  @Option(names = "--run", paramLabel = "ID",
      description = "The run's id (default with RUN_DIR: the directory's name).")
  String runId;

  RunSource open() {
    return RunSource.open(dir, cluster, runId);
  }
}
