package dev.diloco.launcher.options;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** A run on a cluster: the options of every command that serves or sets up one run. */
public final class RunOptions {

  @Option(names = "--run", required = true, paramLabel = "ID", description = "The run's id.")
  String runId;

  @Mixin
  ClusterOptions cluster;

  public String runId() {
    return runId;
  }

  /** The run's topics; a bad run id is refused here, naming it. */
  public RunTopics topics() {
    return new RunTopics(runId);
  }

  public KafkaClientConfig clients() {
    return cluster.clients();
  }
}
