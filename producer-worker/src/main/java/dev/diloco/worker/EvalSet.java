package dev.diloco.worker;

import dev.diloco.tokens.Tokens;
import java.util.SplittableRandom;

/**
 * The held-out windows every eval loss of a run is measured on: drawn from the corpus's eval
 * slice by the run's seed, so the launcher, every worker and every arm of a benchmark measure
 * the same bytes.
 */
public final class EvalSet {

  private final int[][][] batches;

  /** {@code count} batches of {@code batch} windows of {@code contextLength} bytes. */
  public EvalSet(byte[] evalSlice, int count, int batch, int contextLength, long seed) {
    this(Tokens.of(evalSlice), count, batch, contextLength, seed);
  }

  /** {@code count} batches of {@code batch} windows of {@code contextLength} tokens. */
  public EvalSet(Tokens evalSlice, int count, int batch, int contextLength, long seed) {
    if (count < 1) {
      throw new IllegalArgumentException("eval batches must be >= 1, got " + count);
    }
    SplittableRandom random = new SplittableRandom(seed);
    this.batches = new int[count][][];
    for (int i = 0; i < count; i++) {
      batches[i] = ByteCorpus.windows(evalSlice, batch, contextLength, random); // [batch, T + 1]
    }
  }

  /**
   * The loss of each window and their mean with its standard error (sample standard deviation
   * over the root of the count), in nats per byte.
   *
   * @param perWindow every window's mean loss over its bytes, in the set's order
   */
  public record Measured(double mean, double standardError, double[] perWindow) {

    /** Measured from per-window losses; at least two, so the error is defined. */
    public static Measured of(double[] perWindow) {
      int n = perWindow.length;
      if (n < 2) {
        throw new IllegalArgumentException("a standard error needs >= 2 windows, got " + n);
      }
      double mean = java.util.Arrays.stream(perWindow).sum() / n;
      double squares = 0;
      for (double x : perWindow) {
        squares += (x - mean) * (x - mean);
      }
      return new Measured(mean, Math.sqrt(squares / (n - 1) / n), perWindow);
    }

    /**
     * The standard error of {@code this.mean - other.mean} with the windows paired (the same
     * windows, measured on two models): the spread of the per-window differences, which is
     * far below either error alone when the windows' difficulty is most of the spread.
     */
    public double pairedError(Measured other) {
      if (other.perWindow.length != perWindow.length) {
        throw new IllegalArgumentException("pairing needs the same windows: " + perWindow.length
            + " and " + other.perWindow.length);
      }
      double[] d = new double[perWindow.length];
      for (int i = 0; i < d.length; i++) {
        d[i] = perWindow[i] - other.perWindow[i];
      }
      return of(d).standardError();
    }
  }

  /** Windows in the set. */
  public int windows() {
    return batches.length * batches[0].length;
  }

  /**
   * Every window's loss under {@code model} (whose batch is this set's), from its logits: the
   * mean over the window's bytes of −log softmax(logits)[next byte].
   */
  public Measured measure(LanguageModel model) {
    int t = model.config().contextLength();
    int v = model.config().vocab();
    double[] losses = new double[windows()];
    int w = 0;
    for (int[][] b : batches) {
      float[] logits = model.logits(b); // [B*T, V]
      for (int[] window : b) {
        double sum = 0;
        for (int i = 0; i < t; i++) {
          int row = ((w % b.length) * t + i) * v;
          double max = Double.NEGATIVE_INFINITY;
          for (int k = 0; k < v; k++) {
            max = Math.max(max, logits[row + k]);
          }
          double z = 0;
          for (int k = 0; k < v; k++) {
            z += Math.exp(logits[row + k] - max);
          }
          sum += max + Math.log(z) - logits[row + window[i + 1]];
        }
        losses[w++] = sum / t;
      }
    }
    return Measured.of(losses);
  }

  /** The mean loss of {@code model} (whose batch is this set's) over the set, in nats per byte. */
  public float loss(LanguageModel model) {
    double sum = 0;
    for (int[][] b : batches) {
      sum += model.loss(b);
    }
    return (float) (sum / batches.length);
  }
}
