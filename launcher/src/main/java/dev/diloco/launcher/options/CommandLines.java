package dev.diloco.launcher.options;

import java.io.PrintWriter;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;

/**
 * How every diloco command line reports errors: one line that says what went wrong, and for
 * bad options what to run for help; the stack trace goes to the log at debug level, never to
 * the user alone.
 */
public final class CommandLines {
  private CommandLines() {}

  /** {@code command} as a command line with the project's error reporting. */
  public static CommandLine of(Object command) {
    CommandLine cmd = new CommandLine(command);
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
      LoggerFactory.getLogger(CommandLines.class).debug("failed", e);
      return 1;
    });
    return cmd;
  }

  /**
   * Runs {@code cmd} on {@code args} and returns its exit code, with everything it printed
   * flushed: a main method then exits without losing output (picocli's writers do not flush
   * by themselves).
   */
  public static int execute(CommandLine cmd, String... args) {
    try {
      return cmd.execute(args);
    } finally {
      cmd.getOut().flush();
      cmd.getErr().flush();
    }
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
}
