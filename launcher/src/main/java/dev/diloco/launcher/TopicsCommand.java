package dev.diloco.launcher;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RoundLog;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.errors.TopicExistsException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code diloco topics}: the run's topics, created with the settings its records need. */
@Command(name = "topics", mixinStandardHelpOptions = true,
    description = "Creates a run's topics (managed clusters often forbid automatic creation), "
        + "or checks them.",
    subcommands = {TopicsCommand.Create.class, TopicsCommand.Check.class})
final class TopicsCommand implements Runnable {

  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  @Command(name = "create", mixinStandardHelpOptions = true,
      description = "Creates every topic of a run that does not exist yet, with the partitions, "
          + "replication, max.message.bytes and retention it needs.")
  static final class Create implements Callable<Integer> {

    @Mixin
    ClusterOptions cluster;

    @Option(names = "--run", required = true, paramLabel = "ID", description = "The run's id.")
    String runId;

    @Option(names = "--partitions", defaultValue = "4", paramLabel = "N",
        description = "Partitions of the chunk topics: up to N reducer threads share the work "
            + "(default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--replication", defaultValue = "1", paramLabel = "R",
        description = "Replication factor (default: ${DEFAULT-VALUE}; 3 on a real cluster).")
    short replication;

    @Option(names = "--retention", defaultValue = "forever", paramLabel = "DURATION",
        description = "How long the audit trail (pseudo-gradients, sums, weights, commits, dead "
            + "letters) is kept: 'forever' (default), or a duration such as 30d or 720h. "
            + "Replay needs the chunks of the rounds it checks.")
    String retention;

    @Option(names = "--worker", paramLabel = "ID",
        description = "Also a topic of this worker's own (repeatable), for a cluster with "
            + "authentication: only the worker's principal (User:ID) may write it, and the "
            + "reducer rejects a chunk on it that names another worker.")
    List<String> workers = new java.util.ArrayList<>();

    @Override
    public Integer call() throws Exception {
      long retentionMs = retention.equals("forever") ? RunTopics.KEEP_FOREVER
          : new Durations().convert(retention).toMillis();
      var clients = cluster.clients();
      RunTopics topics = new RunTopics(runId);
      try (Admin admin = Admin.create(clients.admin())) {
        var result = admin.createTopics(topics.newTopics(partitions, replication, clients,
            retentionMs, workers));
        for (var e : result.values().entrySet()) {
          try {
            e.getValue().get(60, TimeUnit.SECONDS);
            System.out.println("created " + e.getKey());
          } catch (java.util.concurrent.ExecutionException ex) {
            if (!(ex.getCause() instanceof TopicExistsException)) {
              throw new IllegalStateException("cannot create " + e.getKey() + ": "
                  + ex.getCause().getMessage(), ex.getCause());
            }
            System.out.println("exists  " + e.getKey());
          }
        }
      }
      return 0;
    }
  }

  /**
   * Fails, naming every problem, unless run {@code topics} is ready on the cluster: every topic
   * there, with room for its chunk records ({@code chunkElements}, or when null the run's own,
   * from its model description) and the partitions its ordering needs. Every service asks
   * this before it produces anything.
   */
  static void require(KafkaClientConfig clients, RunTopics topics, Integer chunkElements) {
    List<String> problems = problems(clients, topics, chunkElements);
    if (!problems.isEmpty()) {
      throw new IllegalStateException("the topics of run " + topics.runId() + " on "
          + clients.bootstrapServers() + " are not ready:\n  " + String.join("\n  ", problems));
    }
  }

  private static List<String> problems(KafkaClientConfig clients, RunTopics topics,
      Integer chunkElements) {
    if (chunkElements != null) {
      return Topics.problems(clients, topics, chunkElements);
    }
    List<String> missing = Topics.problems(clients, topics, 1); // existence and partitions
    if (!missing.isEmpty()) {
      return missing;
    }
    return new RoundLog(topics, clients, Duration.ofSeconds(60)).model()
        .map(d -> Topics.problems(clients, topics, d.getLayout().getChunkElements()))
        .orElse(List.of()); // a run not started yet: its optimizer checks with its chunk size
  }

  @Command(name = "check", mixinStandardHelpOptions = true,
      description = "Checks that every topic of a run exists, with a max.message.bytes that "
          + "holds its chunk records and the partitions it needs; exits 1 naming each problem. "
          + "Also a health check for the services.")
  static final class Check implements Callable<Integer> {

    @Mixin
    ClusterOptions cluster;

    @Option(names = "--run", required = true, paramLabel = "ID", description = "The run's id.")
    String runId;

    @Option(names = "--chunk-elements", paramLabel = "N",
        description = "Elements per chunk (default: the run's, from its model description).")
    Integer chunkElements;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec command;

    @Override
    public Integer call() {
      RunTopics topics = new RunTopics(runId);
      require(cluster.clients(), topics, chunkElements);
      command.commandLine().getOut().printf("the %d topics of run %s are ready%n",
          topics.all().size(), runId);
      return 0;
    }
  }
}
