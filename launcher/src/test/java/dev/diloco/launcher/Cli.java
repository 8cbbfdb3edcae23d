package dev.diloco.launcher;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs the diloco command in this JVM, as a user would, with its output captured. */
public final class Cli {
  private Cli() {}

  /** The exit code of {@code diloco args}; what it prints goes to {@code out} and {@code err}. */
  public static int run(StringWriter out, StringWriter err, String... args) {
    return run(Diloco.commandLine(), out, err, args);
  }

  /** The exit code of {@code cmd args}, with what it prints in {@code out} and {@code err}. */
  public static int run(CommandLine cmd, StringWriter out, StringWriter err, String... args) {
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    cmd.setColorScheme(CommandLine.Help.defaultColorScheme(CommandLine.Help.Ansi.OFF));
    return cmd.execute(args);
  }
}
