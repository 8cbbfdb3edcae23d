package dev.diloco.worker.model;

import java.nio.FloatBuffer;
import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The blocks' element-wise work as loops over rows: SwiGLU forward and backward, the causal
 * softmax forward and backward, GPT-2's biases, the byte model's q, k and v apart and together.
 * Each row is copied to the heap, worked on and written back, so the loops are over plain
 * arrays (arrays row-major and whole, not views) and the JIT vectorizes them, exponentials by
 * {@link FastExp}. Measured against ND4J's element-wise ops, 1-5 ns an element each and its
 * broadcasting ones far more, where a loop here fuses several passes into one.
 */
final class Rows {
  private Rows() {}

  /** The floats of a whole row-major array, from its first element. */
  static FloatBuffer floats(INDArray a) {
    if (a.isView() || a.ordering() != 'c') {
      throw new IllegalArgumentException("a whole row-major array is needed here, got a view");
    }
    return a.data().asNioFloat();
  }

  /** The values of a whole row-major array, on the heap. */
  static float[] read(INDArray a) {
    float[] values = new float[(int) a.length()];
    floats(a).get(0, values);
    return values;
  }

  /** Sets a whole row-major array to {@code values}. */
  static void write(float[] values, INDArray a) {
    floats(a).put(0, values);
  }

  /** Every value of {@code a}, a view or not, in row-major order. */
  static float[] values(INDArray a) {
    return a.reshape(a.length()).toFloatVector();
  }

  /** Each row of y [N, W] set to {@code bias} [W], or with it added. */
  static void biasRows(INDArray y, float[] bias, boolean add) {
    FloatBuffer b = floats(y);
    float[] row = new float[bias.length];
    for (int r = 0; r < y.size(0); r++) {
      if (add) {
        b.get(r * bias.length, row);
        for (int j = 0; j < row.length; j++) {
          row[j] += bias[j];
        }
      }
      b.put(r * bias.length, add ? row : bias);
    }
  }

  /** parts [3, N, C] side by side into y [N, 3C]: row r of y is row r of each part. */
  static void interleave(INDArray parts, INDArray y) {
    int n = (int) parts.size(1);
    int c = (int) parts.size(2);
    FloatBuffer in = floats(parts);
    FloatBuffer out = floats(y);
    float[] row = new float[c];
    for (int i = 0; i < 3; i++) {
      for (int r = 0; r < n; r++) {
        in.get((i * n + r) * c, row);
        out.put((r * 3 + i) * c, row);
      }
    }
  }

  /** The inverse of {@link #interleave}: y [N, 3C] apart into parts [3, N, C]. */
  static void deinterleave(INDArray y, INDArray parts) {
    int n = (int) parts.size(1);
    int c = (int) parts.size(2);
    FloatBuffer in = floats(y);
    FloatBuffer out = floats(parts);
    float[] row = new float[c];
    for (int i = 0; i < 3; i++) {
      for (int r = 0; r < n; r++) {
        in.get((r * 3 + i) * c, row);
        out.put((i * n + r) * c, row);
      }
    }
  }

  /**
   * SwiGLU: h = silu(gate)·up for gu = [gate; up] [2M, N] and h [M, N], silu(g) = g·σ(g); σ(gate)
   * and silu(gate) [M, N] into {@code sigmoid} and {@code silu} for the backward pass. Rows of N
   * through {@link FastExp#sigmoids}: about 2 ns an element, where ND4J's three ops took 5.
   */
  static void swiGlu(INDArray gu, INDArray sigmoid, INDArray silu, INDArray h) {
    int m = (int) h.size(0);
    int n = (int) h.size(1);
    FloatBuffer in = floats(gu);
    FloatBuffer sb = floats(sigmoid);
    FloatBuffer lb = floats(silu);
    FloatBuffer out = floats(h);
    float[] gate = new float[n];
    float[] up = new float[n];
    float[] s = new float[n];
    for (int r = 0; r < m; r++) {
      in.get(r * n, gate);
      in.get((m + r) * n, up);
      FastExp.sigmoids(gate, s, n, 1f);
      for (int j = 0; j < n; j++) {
        gate[j] *= s[j];
        up[j] *= gate[j];
      }
      sb.put(r * n, s);
      lb.put(r * n, gate);
      out.put(r * n, up);
    }
  }

  /**
   * SwiGLU's backward into dgu [2M, N]: d up = dh·silu(g), d gate = dh·up·σ(g)·(1 + g·(1 − σ(g)))
   * = dh·up·(σ + silu − silu·σ).
   */
  static void swiGluBackward(INDArray gu, INDArray sigmoid, INDArray silu, INDArray dh,
      INDArray dgu) {
    int m = (int) dh.size(0);
    int n = (int) dh.size(1);
    FloatBuffer in = floats(gu);
    FloatBuffer sb = floats(sigmoid);
    FloatBuffer lb = floats(silu);
    FloatBuffer db = floats(dh);
    FloatBuffer out = floats(dgu);
    float[] up = new float[n];
    float[] s = new float[n];
    float[] l = new float[n];
    float[] d = new float[n];
    for (int r = 0; r < m; r++) {
      in.get((m + r) * n, up);
      sb.get(r * n, s);
      lb.get(r * n, l);
      db.get(r * n, d);
      for (int j = 0; j < n; j++) {
        float dGate = d[j] * up[j] * (s[j] + l[j] - l[j] * s[j]);
        up[j] = d[j] * l[j]; // d up
        s[j] = dGate;
      }
      out.put(r * n, s);
      out.put((m + r) * n, up);
    }
  }

  /**
   * Softmax of each row of scores [G, R, T] in place, row i at position i mod T reading the
   * positions up to its own; the later ones get 0 (the causal mask), and no exponential.
   */
  static void causalSoftmax(INDArray scores) {
    int t = (int) scores.size(2);
    FloatBuffer b = floats(scores);
    float[] row = new float[t];
    long rows = scores.size(0) * scores.size(1);
    for (int r = 0; r < rows; r++) {
      int past = r % t + 1; // the row's own position and those before: rows are heads' 0..T-1
      b.get(r * t, row);
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < past; j++) {
        max = Math.max(max, row[j]);
      }
      FastExp.shifted(row, past, max);
      float norm = 1 / sum(row, past);
      for (int j = 0; j < past; j++) {
        row[j] *= norm;
      }
      Arrays.fill(row, past, t, 0f);
      b.put(r * t, row);
    }
  }

  /**
   * Σ a[i] for i &lt; n in eight running sums, added pairwise at the end: unlike one running sum,
   * a loop the JIT vectorizes.
   */
  static float sum(float[] a, int n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      s0 += a[i];
      s1 += a[i + 1];
      s2 += a[i + 2];
      s3 += a[i + 3];
      s4 += a[i + 4];
      s5 += a[i + 5];
      s6 += a[i + 6];
      s7 += a[i + 7];
    }
    for (; i < n; i++) {
      s0 += a[i];
    }
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  }

  /** Σ a[i]·b[i] for i &lt; n, in eight running sums as {@link #sum}. */
  static float dot(float[] a, float[] b, int n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      s0 += a[i] * b[i];
      s1 += a[i + 1] * b[i + 1];
      s2 += a[i + 2] * b[i + 2];
      s3 += a[i + 3] * b[i + 3];
      s4 += a[i + 4] * b[i + 4];
      s5 += a[i + 5] * b[i + 5];
      s6 += a[i + 6] * b[i + 6];
      s7 += a[i + 7] * b[i + 7];
    }
    for (; i < n; i++) {
      s0 += a[i] * b[i];
    }
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  }

  /** The causal softmax's backward in place: dS = P ⊙ (dP − Σ dP⊙P) over each row's past. */
  static void causalSoftmaxBackward(INDArray p, INDArray dp) {
    int t = (int) p.size(2);
    FloatBuffer pb = floats(p);
    FloatBuffer db = floats(dp);
    float[] pr = new float[t];
    float[] dr = new float[t];
    long rows = p.size(0) * p.size(1);
    for (int r = 0; r < rows; r++) {
      int past = r % t + 1;
      pb.get(r * t, pr);
      db.get(r * t, dr);
      float dot = dot(dr, pr, past);
      for (int j = 0; j < past; j++) {
        dr[j] = pr[j] * (dr[j] - dot);
      }
      Arrays.fill(dr, past, t, 0f);
      db.put(r * t, dr);
    }
  }
}
