package dev.diloco.launcher;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs the diloco command in this JVM, as a user would, with its output captured. */
final class Cli {
  private Cli() {}

  /** The exit code of {@code diloco args}; what it prints goes to {@code out} and {@code err}. */
  static int run(StringWriter out, StringWriter err, String... args) {
    CommandLine cmd = Diloco.commandLine();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    cmd.setColorScheme(CommandLine.Help.defaultColorScheme(CommandLine.Help.Ansi.OFF));
    return cmd.execute(args);
  }
}
