package dev.diloco.worker;

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
    if (count < 1) {
      throw new IllegalArgumentException("eval batches must be >= 1, got " + count);
    }
    SplittableRandom random = new SplittableRandom(seed);
    this.batches = new int[count][][];
    for (int i = 0; i < count; i++) {
      batches[i] = ByteCorpus.windows(evalSlice, batch, contextLength, random); // [batch, T + 1]
    }
  }

  /** The mean loss of {@code model} (whose batch is this set's) over the set, in nats per byte. */
  public float loss(ByteTransformer model) {
    double sum = 0;
    for (int[][] b : batches) {
      sum += model.loss(b);
    }
    return (float) (sum / batches.length);
  }
}
