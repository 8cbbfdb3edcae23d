package dev.diloco.launcher;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code diloco} command: one subcommand per job. */
@Command(
    name = "diloco",
    mixinStandardHelpOptions = true,
    versionProvider = Diloco.Version.class,
    description = "DiLoCo training across poorly connected machines, with Apache Kafka as the "
        + "transport.",
    subcommands = {RunCommand.class, InspectCommand.class, ReplayCommand.class, ExportCommand.class,
        AclsCommand.class,
        BrokerCommand.class, TopicsCommand.class, OptimizerCommand.class,
        ReducerCommand.class, WorkerCommand.class, BenchCommand.class,
        CommandLine.HelpCommand.class})
public final class Diloco implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /**
   * The command line, with errors reported as one line that says what went wrong (the stack
   * trace goes to the log at debug level, never to the user alone).
   */
  public static CommandLine commandLine() {
    CommandLine cmd = new CommandLine(new Diloco());
    cmd.setParameterExceptionHandler((e, args) -> {
      CommandLine bad = e.getCommandLine();
      PrintWriter err = bad.getErr();
      err.println(bad.getColorScheme().errorText("error: " + e.getMessage()));
      CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
      err.println("Run '" + bad.getCommandSpec().qualifiedName() + " --help' for its options.");
      err.flush();
      return bad.getCommandSpec().exitCodeOnInvalidInput();
    });
    cmd.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      PrintWriter err = commandLine.getErr();
      err.println(commandLine.getColorScheme().errorText("error: " + describe(e)));
      err.flush();
      org.slf4j.LoggerFactory.getLogger(Diloco.class).debug("failed", e);
      return 1;
    });
    return cmd;
  }

  private static String describe(Throwable e) {
    String message = e.getMessage();
    Throwable cause = e.getCause();
    while ((message == null || message.isBlank()) && cause != null) {
      message = cause.getMessage();
      cause = cause.getCause();
    }
    return message == null ? e.getClass().getSimpleName() : message;
  }

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** The version from the jar's manifest, when there is one. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Diloco.class.getPackage().getImplementationVersion();
      return new String[] {"diloco " + (v == null ? "(development build)" : v)};
    }
  }
}
