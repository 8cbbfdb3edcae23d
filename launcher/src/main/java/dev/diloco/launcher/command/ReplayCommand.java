package dev.diloco.launcher.command;

import dev.diloco.audit.Replay;
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

/** {@code diloco replay}: re-executes a run's rounds from its log and checks every bit. */
@Command(
    name = "replay",
    mixinStandardHelpOptions = true,
    exitCodeListHeading = "Exit codes:%n",
    exitCodeList = {"0:every round checked out", "1:the replay could not run (see the message)",
        "3:a round does not check out: the first bad round and chunk are named"},
    description = {
        "Replays a run from its topics: for each round, recomputes the reducer's exact sums "
            + "from the recorded pseudo-gradient chunks and the outer step at the commit's "
            + "learning rate, with the services' own code, and compares the result bit for bit "
            + "with every published weights chunk, the commit's SHA-256 and the optimizer's "
            + "momentum. Prints one line per round, and what does not check out.",
        "Round 0's weights come from the seed and are checked against their commit only."})
public final class ReplayCommand implements Callable<Integer> {

  static final int MISMATCH = 3;

  @Mixin
  RunSourceOptions source;

  @Option(names = "--from-round", defaultValue = "0", paramLabel = "N",
      description = "First round to check, starting from the published weights of the round "
          + "before it (default: ${DEFAULT-VALUE}).")
  int from;

  @Option(names = "--to-round", defaultValue = "-1", paramLabel = "N",
      description = "Last round to check (default: the newest committed round).")
  int to;

  @Spec
  CommandSpec command;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = command.commandLine().getOut();
    try (RunSource opened = source.open();
        TopicReader reader = new TopicReader(opened.clients(), Duration.ofMinutes(5))) {
      RunRecords run = RunRecords.read(opened.topics(), reader);
      String format = "%5s  %-11s  %-24s  %10s  %14s  %12s  %s%n";
      out.printf("replaying run %s%n", opened.runId());
      out.printf(format, "round", "outcome", "contributors", "tokens", "pseudo-grad B",
          "weights B", "verdict");
      Replay.Report report = Replay.replay(run, reader, from, to, r -> {
        out.printf(format, r.round(), r.outcome(),
            r.contributors().isEmpty() ? "-" : String.join(",", r.contributors()),
            String.format("%,d", r.tokens()), String.format("%,d", r.pseudoGradientBytes()),
            String.format("%,d", r.weightsBytes()), r.ok() ? "OK" : "MISMATCH");
        r.findings().forEach(f -> out.println("       " + f));
        out.flush();
      });
      if (report.ok()) {
        out.printf("rounds %d to %d of run %s verified bit for bit%n", report.from(),
            report.to(), report.runId());
        return 0;
      }
      long bad = report.rounds().stream().filter(r -> !r.ok()).count();
      out.printf("%d of %d rounds do not check out; the first: %s%n", bad,
          report.rounds().size(), report.firstFinding().orElseThrow());
      return MISMATCH;
    }
  }
}
