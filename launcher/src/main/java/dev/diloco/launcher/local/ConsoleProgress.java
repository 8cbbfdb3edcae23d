package dev.diloco.launcher.local;

import java.io.PrintStream;
import java.util.Map;

/**
 * The local run on the console: one line per committed round with a progress bar, and on a
 * terminal, a line of each worker's inner steps redrawn in place while a round trains.
 */
final class ConsoleProgress {

  private static final int BAR = 20;

  private final PrintStream console;
  private final int rounds;
  private final int innerSteps;
  /** Whether a live line can be redrawn in place: only on a terminal. */
  private final boolean interactive = System.console() != null;

  ConsoleProgress(PrintStream console, int rounds, int innerSteps) {
    this.console = console;
    this.rounds = rounds;
    this.innerSteps = innerSteps;
  }

  /** The inner steps of the round under way, by worker. */
  void steps(int round, Map<String, Integer> done) {
    if (!interactive) {
      return;
    }
    StringBuilder line = new StringBuilder("\r  round " + round + " inner steps:");
    done.forEach((worker, n) -> line.append(' ').append(worker).append(' ').append(n)
        .append('/').append(innerSteps));
    console.print(line);
    console.flush();
  }

  void round(RunSummary.Round r) {
    if (interactive) {
      console.print("\r\033[K"); // clear the progress line
    }
    int filled = rounds == 0 ? BAR : BAR * r.round() / rounds;
    console.printf("[%s%s] round %d/%d  eval loss %.3f%s%s  contributors %d  %,d bytes sent%s  "
            + "%.1f s%s%n", "#".repeat(filled), ".".repeat(BAR - filled), r.round(), rounds,
        r.evalLoss(), r.evalBitsPerByte() == null ? ""
            : String.format(" (%.3f bits/byte)", r.evalBitsPerByte()),
        r.trainLoss() == null ? "" : String.format("  train loss %.3f", r.trainLoss()),
        r.contributors(), r.bytesSent(),
        r.bytesReceived() > 0 ? String.format("  %,d received", r.bytesReceived()) : "",
        r.roundSeconds(),
        r.computeUtilisation() == null ? ""
            : String.format("  utilisation %.0f%%", 100 * r.computeUtilisation()));
  }
}
