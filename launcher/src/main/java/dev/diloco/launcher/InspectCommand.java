package dev.diloco.launcher;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.diloco.audit.Inspection;
import dev.diloco.audit.RunRecords;
import dev.diloco.audit.TopicReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.io.PrintWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code diloco inspect}: a run's rounds as the log holds them. */
@Command(
    name = "inspect",
    mixinStandardHelpOptions = true,
    description = "Lists a run's rounds from its topics: each commit's outcome, time, "
        + "contributors and tokens, the bytes of its pseudo-gradients, sums and weights, and its "
        + "dead letters by reason; then the totals. Reads no payload.")
final class InspectCommand implements Callable<Integer> {

  @Parameters(arity = "0..1", paramLabel = "RUN_DIR",
      description = "A run directory of diloco run (or give a cluster and --run).")
  Path dir;

  @Mixin
  ClusterOptions cluster;

  @Option(names = "--run", paramLabel = "ID",
      description = "The run's id (default with RUN_DIR: the directory's name).")
  String runId;

  @Option(names = "--json", description = "Print JSON instead of a table.")
  boolean json;

  @Spec
  CommandSpec command;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = command.commandLine().getOut();
    try (RunSource source = RunSource.open(dir, cluster, runId);
        TopicReader reader = new TopicReader(source.clients(), Duration.ofMinutes(5))) {
      Inspection inspection = Inspection.of(RunRecords.read(source.topics(), reader));
      if (json) {
        out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .writeValueAsString(inspection));
      } else {
        out.print(inspection.table());
      }
    }
    return 0;
  }
}
