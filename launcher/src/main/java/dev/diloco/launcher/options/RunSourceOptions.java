package dev.diloco.launcher.options;

import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Options of the commands that read a run back: a run directory, or a cluster and a run id. */
public final class RunSourceOptions {

  @Parameters(arity = "0..1", paramLabel = "RUN_DIR",
      description = "A run directory of diloco run (or give a cluster and --run).")
  Path dir;

  @Mixin
  ClusterOptions cluster;

  @Option(names = "--run", paramLabel = "ID",
      description = "The run's id (default with RUN_DIR: the run the directory holds).")
  String runId;

  /** The run, served from its directory for the time of the command, or on the cluster. */
  public RunSource open() {
    return RunSource.open(dir, cluster, runId);
  }

  /** The run directory given, or null for a run read from a cluster. */
  public Path dir() {
    return dir;
  }

  /** As {@link #open()}, with {@code dir} standing for RUN_DIR when that is not given. */
  public RunSource open(Path dirOption) {
    if (dir != null && dirOption != null) {
      throw new IllegalArgumentException("give the run directory once");
    }
    return RunSource.open(dir != null ? dir : dirOption, cluster, runId);
  }
}
