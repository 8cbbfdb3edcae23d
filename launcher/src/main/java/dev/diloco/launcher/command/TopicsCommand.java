package dev.diloco.launcher.command;

import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.log.RoundLog;
import dev.diloco.launcher.options.Durations;
import dev.diloco.launcher.options.RunOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diloco topics}: the run's topics, created with the settings its records need. */
@Command(name = "topics", mixinStandardHelpOptions = true,
    description = "Creates a run's topics (managed clusters often forbid automatic creation), "
        + "or checks them.",
    subcommands = {TopicsCommand.Create.class, TopicsCommand.Check.class})
public final class TopicsCommand implements Runnable {

  @Spec
  CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  @Command(name = "create", mixinStandardHelpOptions = true,
      description = "Creates every topic of a run that does not exist yet, with the partitions, "
          + "replication, max.message.bytes and retention it needs.")
  static final class Create implements Callable<Integer> {

    @Mixin
    RunOptions run;

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
    List<String> workers = new ArrayList<>();

    @Spec
    CommandSpec command;

    @Override
    public Integer call() {
      long retentionMs = RunTopics.requireRetention(retention.equals("forever")
          ? RunTopics.KEEP_FOREVER : new Durations().convert(retention).toMillis());
      var clients = run.clients();
      Topics.create(clients, run.topics().newTopics(partitions, replication, clients,
          retentionMs, workers)).forEach((topic, created) ->
          command.commandLine().getOut().println((created ? "created " : "exists  ") + topic));
      return 0;
    }
  }

  @Command(name = "check", mixinStandardHelpOptions = true,
      description = "Checks that every topic of a run exists, with a max.message.bytes that "
          + "holds its chunk records and the partitions it needs; exits 1 naming each problem. "
          + "Also a health check for the services.")
  static final class Check implements Callable<Integer> {

    @Mixin
    RunOptions run;

    @Option(names = "--chunk-elements", paramLabel = "N",
        description = "Elements per chunk (default: the run's, from its model description).")
    Integer chunkElements;

    @Spec
    CommandSpec command;

    @Override
    public Integer call() {
      if (chunkElements != null) {
        Topics.requireReady(run.clients(), run.topics(), chunkElements);
      } else {
        RoundLog.requireReady(run.clients(), run.topics());
      }
      command.commandLine().getOut().printf("the %d topics of run %s are ready%n",
          run.topics().all().size(), run.runId());
      return 0;
    }
  }
}
