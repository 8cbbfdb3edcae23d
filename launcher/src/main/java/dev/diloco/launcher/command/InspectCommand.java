package dev.diloco.launcher.command;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.diloco.audit.Inspection;
import dev.diloco.audit.RunRecords;
import dev.diloco.audit.TopicReader;
import dev.diloco.launcher.options.RunSource;
import dev.diloco.launcher.options.RunSourceOptions;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diloco inspect}: a run's rounds as the log holds them. */
@Command(
    name = "inspect",
    mixinStandardHelpOptions = true,
    description = "Lists a run's rounds from its topics: each commit's outcome, time, "
        + "contributors and tokens, the bytes of its pseudo-gradients, sums and weights, and its "
        + "dead letters by reason; then the totals. Reads no payload.")
public final class InspectCommand implements Callable<Integer> {

  @Mixin
  RunSourceOptions source;

  @Option(names = "--json", description = "Print JSON instead of a table.")
  boolean json;

  @Spec
  CommandSpec command;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = command.commandLine().getOut();
    try (RunSource run = source.open();
        TopicReader reader = new TopicReader(run.clients(), Duration.ofMinutes(5))) {
      Inspection inspection = Inspection.of(RunRecords.read(run.topics(), reader));
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
