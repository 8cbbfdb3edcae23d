package dev.diloco.bench;

import dev.diloco.launcher.Diloco;
import dev.diloco.launcher.options.CommandLines;
import picocli.CommandLine;

/**
 * The {@code diloco} command with {@code diloco bench} added: what {@code ./diloco} runs from a
 * source checkout. The services' image runs {@link Diloco} alone, without benchmark code.
 */
public final class BenchMain {
  private BenchMain() {}

  /** The diloco command line, benchmarks included. */
  public static CommandLine commandLine() {
    CommandLine cmd = Diloco.commandLine();
    cmd.addSubcommand(new BenchCommand());
    return cmd;
  }

  public static void main(String[] args) {
    System.exit(CommandLines.execute(commandLine(), args));
  }
}
