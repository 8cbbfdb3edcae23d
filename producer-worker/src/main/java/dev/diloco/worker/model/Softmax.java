package dev.diloco.worker.model;

import java.nio.FloatBuffer;
import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Softmax over rows, for the head's cross-entropy and the attention's causal mask: blocks of
 * whole rows on the heap, each row's max found and subtracted in a loop of its own, then e^x
 * ({@link FastExp#negative}) over the whole block in one loop, then each row's sum and scale.
 *
 * <p>Why e^x runs over blocks and not rows: HotSpot 17's vector code does 64 to 128 floats a
 * pass and leaves the rest of a loop to scalar code, and a loop it first saw short it compiles
 * without vector code at all. Over rows of 64 (an attention row of the tiny model) e^x took 2.9
 * ns an element, over rows of 256 1.1, over a block of 16,384 0.5; compiled after short rows,
 * 1.7 ns however long (each measured here).
 */
final class Softmax {
  private Softmax() {}

  /** Floats in a block: whole rows, at least one. */
  static final int BLOCK = 1 << 14;

  /** Whole rows of {@code width} in a block. */
  static int rowsPerBlock(int width) {
    return Math.max(1, BLOCK / width);
  }

  /**
   * Each of the {@code rows} rows [rows, width] at the start of {@code a} replaced by its softmax
   * times {@code scale}, and lse[r] set to its log Σ e^x. Causal: row r, at position (first + r)
   * mod width, reads its entries up to that position and has 0 after it (the mask; no
   * exponential counts it); otherwise every entry.
   */
  static void rows(float[] a, int rows, int width, boolean causal, int first, float scale,
      double[] lse) {
    float[] max = new float[rows];
    for (int r = 0; r < rows; r++) {
      int at = r * width;
      int end = at + length(r, width, causal, first);
      float m = max(a, at, end);
      for (int j = at; j < end; j++) {
        a[j] -= m;
      }
      max[r] = m;
    }
    FastExp.negatives(a, rows * width); // the masked entries too: set to 0 below
    for (int r = 0; r < rows; r++) {
      int at = r * width;
      int n = length(r, width, causal, first);
      Arrays.fill(a, at + n, at + width, 0f);
      float z = Rows.sum(a, at, n);
      float norm = scale / z;
      for (int j = at; j < at + n; j++) {
        a[j] *= norm;
      }
      lse[r] = max[r] + Math.log(z);
    }
  }

  /**
   * The largest of a[from..end), NaN left out (it shows in the exponentials). In four running
   * maxima, each a compare and a move: one running Math.max (its NaN and −0 rules) took 1.7 ns
   * an element here, one running compare 1.2, four 0.4-0.8.
   */
  private static float max(float[] a, int from, int end) {
    float m0 = Float.NEGATIVE_INFINITY;
    float m1 = m0;
    float m2 = m0;
    float m3 = m0;
    int j = from;
    for (; j + 4 <= end; j += 4) {
      m0 = a[j] > m0 ? a[j] : m0;
      m1 = a[j + 1] > m1 ? a[j + 1] : m1;
      m2 = a[j + 2] > m2 ? a[j + 2] : m2;
      m3 = a[j + 3] > m3 ? a[j + 3] : m3;
    }
    for (; j < end; j++) {
      m0 = a[j] > m0 ? a[j] : m0;
    }
    m0 = m1 > m0 ? m1 : m0;
    m2 = m3 > m2 ? m3 : m2;
    return m2 > m0 ? m2 : m0;
  }

  private static int length(int r, int width, boolean causal, int first) {
    return causal ? (first + r) % width + 1 : width;
  }

  /**
   * Softmax of each row of scores [G, R, T] in place, R a multiple of T and row i at position
   * i mod T: the causal mask.
   */
  static void causal(INDArray scores) {
    int t = (int) scores.size(2);
    int rows = (int) (scores.size(0) * scores.size(1));
    FloatBuffer b = Rows.floats(scores);
    int per = rowsPerBlock(t);
    float[] block = new float[per * t];
    double[] lse = new double[per];
    for (int r = 0; r < rows; r += per) {
      int n = Math.min(per, rows - r);
      b.get(r * t, block, 0, n * t);
      rows(block, n, t, true, r % t, 1f, lse);
      b.put(r * t, block, 0, n * t);
    }
  }

  /** The causal softmax's backward in place: dS = P ⊙ (dP − Σ dP⊙P) over each row's past. */
  static void causalBackward(INDArray p, INDArray dp) {
    int t = (int) p.size(2);
    int rows = (int) (p.size(0) * p.size(1));
    FloatBuffer pb = Rows.floats(p);
    FloatBuffer db = Rows.floats(dp);
    int per = rowsPerBlock(t);
    float[] pr = new float[per * t];
    float[] dr = new float[per * t];
    for (int r0 = 0; r0 < rows; r0 += per) {
      int n = Math.min(per, rows - r0);
      pb.get(r0 * t, pr, 0, n * t);
      db.get(r0 * t, dr, 0, n * t);
      for (int r = 0; r < n; r++) {
        int at = r * t;
        int end = at + (r0 + r) % t + 1;
        float dot = Rows.dot(dr, pr, at, end - at);
        for (int j = at; j < end; j++) {
          dr[j] = pr[j] * (dr[j] - dot);
        }
        Arrays.fill(dr, end, at + t, 0f);
      }
      db.put(r0 * t, dr, 0, n * t);
    }
  }
}
