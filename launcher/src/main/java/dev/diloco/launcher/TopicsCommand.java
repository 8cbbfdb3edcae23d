package dev.diloco.launcher;

import dev.diloco.core.kafka.RunTopics;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.errors.TopicExistsException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code diloco topics}: the run's topics, created with the settings its records need. */
@Command(name = "topics", mixinStandardHelpOptions = true,
    description = "Creates a run's topics (managed clusters often forbid automatic creation).",
    subcommands = {TopicsCommand.Create.class})
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

    @Override
    public Integer call() throws Exception {
      long retentionMs = retention.equals("forever") ? RunTopics.KEEP_FOREVER
          : new Durations().convert(retention).toMillis();
      var clients = cluster.clients();
      RunTopics topics = new RunTopics(runId);
      try (Admin admin = Admin.create(clients.admin())) {
        var result = admin.createTopics(topics.newTopics(partitions, replication, clients,
            retentionMs));
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
}
