package dev.diloco.launcher.command;

import dev.diloco.tokens.Tokenize;
import java.io.PrintWriter;

/** A progress line on the terminal, redrawn at most every half second: tokens and their rate. */
final class ProgressLine implements Tokenize.Progress {

  private static final long REDRAW_NANOS = 500_000_000L;

  private final PrintWriter err;
  private final long started = System.nanoTime();
  private long drawn;
  private long tokens;
  private long bytes;

  ProgressLine(PrintWriter err) {
    this.err = err;
  }

  @Override
  public void update(long tokens, long textBytes) {
    this.tokens = tokens;
    this.bytes = textBytes;
    long now = System.nanoTime();
    if (now - drawn >= REDRAW_NANOS) {
      drawn = now;
      err.printf("\rtokenized %s tokens, %s of text  (%s tokens/s, %s/s)   ", count(tokens),
          bytes(bytes), count(rate()), bytes(byteRate()));
      err.flush();
    }
  }

  /** Ends the line. */
  void done() {
    drawn = 0;
    update(tokens, bytes);
    err.println();
    err.flush();
  }

  double rate() {
    return tokens / seconds();
  }

  double byteRate() {
    return bytes / seconds();
  }

  private double seconds() {
    return Math.max(1e-9, (System.nanoTime() - started) / 1e9);
  }

  static String count(double n) {
    return n >= 1e9 ? String.format("%.2fG", n / 1e9) : n >= 1e6 ? String.format("%.2fM", n / 1e6)
        : n >= 1e3 ? String.format("%.1fk", n / 1e3) : String.format("%.0f", n);
  }

  static String bytes(double n) {
    return n >= 1e9 ? String.format("%.2f GB", n / 1e9) : String.format("%.2f MB", n / 1e6);
  }
}
