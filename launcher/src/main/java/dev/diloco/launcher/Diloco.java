package dev.diloco.launcher;

import dev.diloco.launcher.command.AclsCommand;
import dev.diloco.launcher.command.BrokerCommand;
import dev.diloco.launcher.command.ExportCommand;
import dev.diloco.launcher.command.InspectCommand;
import dev.diloco.launcher.command.OptimizerCommand;
import dev.diloco.launcher.command.ReducerCommand;
import dev.diloco.launcher.command.ReplayCommand;
import dev.diloco.launcher.command.RunCommand;
import dev.diloco.launcher.command.SampleCommand;
import dev.diloco.launcher.command.TokenizeCommand;
import dev.diloco.launcher.command.TopicsCommand;
import dev.diloco.launcher.command.WorkerCommand;
import dev.diloco.launcher.options.CommandLines;
import picocli.CommandLine.Command;
import picocli.CommandLine;

/**
 * The {@code diloco} command: one subcommand per job. The benchmarks module adds
 * {@code diloco bench} to it ({@code BenchMain}, what {@code ./diloco} runs), so that the
 * services' image holds no benchmark code.
 */
@Command(
    name = "diloco",
    mixinStandardHelpOptions = true,
    versionProvider = Diloco.Version.class,
    description = "DiLoCo training across poorly connected machines, with Apache Kafka as the "
        + "transport.",
    subcommands = {RunCommand.class, TokenizeCommand.class, InspectCommand.class,
        ReplayCommand.class, ExportCommand.class, SampleCommand.class, AclsCommand.class, BrokerCommand.class, TopicsCommand.class, OptimizerCommand.class,
        ReducerCommand.class, WorkerCommand.class, CommandLine.HelpCommand.class})
public final class Diloco implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(CommandLines.execute(commandLine(), args));
  }

  /** The command line, with errors reported as one line that says what went wrong. */
  public static CommandLine commandLine() {
    return CommandLines.of(new Diloco());
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
