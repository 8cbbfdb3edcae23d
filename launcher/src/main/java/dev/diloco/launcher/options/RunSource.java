package dev.diloco.launcher.options;

import dev.diloco.broker.EmbeddedKafkaBroker;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import java.util.List;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the commands that read a run back (export, inspect, replay) find it: a run directory
 * left by {@code diloco run}, whose broker log is served again for the time of the command, or
 * a cluster and a run id.
 */
public final class RunSource implements AutoCloseable {

  private final EmbeddedKafkaBroker broker;
  private final KafkaClientConfig clients;
  private final RunTopics topics;

  private RunSource(EmbeddedKafkaBroker broker, KafkaClientConfig clients, String runId) {
    this.broker = broker;
    this.clients = clients;
    this.topics = new RunTopics(runId);
  }

  /**
   * {@code dir}: a run directory, or null for the cluster of {@code cluster}; {@code runId}:
   * the run, by default the one the directory holds.
   */
  static RunSource open(Path dir, ClusterOptions cluster, String runId) {
    boolean onCluster = cluster.given();
    if (dir == null && !onCluster) {
      throw new IllegalArgumentException("give a run directory or a cluster "
          + "(--bootstrap-servers / --client-config) and --run");
    }
    if (dir != null && onCluster) {
      throw new IllegalArgumentException("give a run directory or a cluster, not both");
    }
    if (dir == null) {
      if (runId == null) {
        throw new IllegalArgumentException("on a cluster, say which run with --run");
      }
      return new RunSource(null, cluster.clients(), runId);
    }
    Path log = dir.resolve("kafka");
    if (!Files.isDirectory(log.resolve("kafka-logs"))) {
      throw new IllegalArgumentException(dir + " is not a run directory of diloco run: it has "
          + "no kafka/ log");
    }
    EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.builder().logDir(log).start();
    try {
      KafkaClientConfig clients = KafkaClientConfig.of(broker.bootstrapServers());
      return new RunSource(broker, clients, runId != null ? runId : theRunIn(dir, clients));
    } catch (RuntimeException e) {
      broker.close();
      throw e;
    }
  }

  /**
   * The id of the run a directory holds, from its own records (its model topic), not from the
   * directory's name: a run directory may be renamed, copied, or named what no run id can be.
   */
  private static String theRunIn(Path dir, KafkaClientConfig clients) {
    List<String> runs = Topics.runs(clients);
    if (runs.isEmpty()) {
      throw new IllegalArgumentException(dir + " holds no run: its broker log has no run's "
          + "model topic");
    }
    if (runs.size() > 1) {
      throw new IllegalArgumentException(dir + " holds the runs " + runs + ": say which with "
          + "--run");
    }
    return runs.get(0);
  }

  public KafkaClientConfig clients() {
    return clients;
  }

  public RunTopics topics() {
    return topics;
  }

  public String runId() {
    return topics.runId();
  }

  @Override
  public void close() {
    if (broker != null) {
      broker.close();
    }
  }
}
