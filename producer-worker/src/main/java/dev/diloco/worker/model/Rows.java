package dev.diloco.worker.model;

import java.nio.FloatBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The blocks' element-wise work as loops over rows: SwiGLU forward and backward, GPT-2's biases,
 * the byte model's q, k and v apart and together, and the sums the norms and softmaxes take.
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
   * SwiGLU: h = silu(gate)·up for gu = [gate; up] [2M, N] and h [M, N], silu(g) = g·σ(g). Gate
   * and up are whole arrays: blocks of {@link Softmax#BLOCK} through {@link FastExp#sigmoids},
   * for the reason {@link Softmax} gives; ND4J's three ops took 5 ns an element. σ is not kept
   * for the backward pass, which computes it again: two fewer [M, N] arrays written and read.
   */
  static void swiGlu(INDArray gu, INDArray h) {
    int length = (int) h.length();
    FloatBuffer in = floats(gu);
    FloatBuffer out = floats(h);
    float[] gate = new float[Math.min(length, Softmax.BLOCK)];
    float[] up = new float[gate.length];
    float[] s = new float[gate.length];
    for (int at = 0; at < length; at += gate.length) {
      int n = Math.min(gate.length, length - at);
      in.get(at, gate, 0, n);
      in.get(length + at, up, 0, n);
      FastExp.sigmoids(gate, s, n, 1f);
      for (int j = 0; j < n; j++) {
        up[j] *= gate[j] * s[j];
      }
      out.put(at, up, 0, n);
    }
  }

  /**
   * SwiGLU's backward into dgu [2M, N]: d up = dh·silu(g), d gate = dh·up·σ(g)·(1 + g·(1 − σ(g)))
   * = dh·up·(σ + silu − silu·σ).
   */
  static void swiGluBackward(INDArray gu, INDArray dh, INDArray dgu) {
    int length = (int) dh.length();
    FloatBuffer in = floats(gu);
    FloatBuffer db = floats(dh);
    FloatBuffer out = floats(dgu);
    float[] gate = new float[Math.min(length, Softmax.BLOCK)];
    float[] up = new float[gate.length];
    float[] s = new float[gate.length];
    float[] d = new float[gate.length];
    for (int at = 0; at < length; at += gate.length) {
      int n = Math.min(gate.length, length - at);
      in.get(at, gate, 0, n);
      in.get(length + at, up, 0, n);
      db.get(at, d, 0, n);
      FastExp.sigmoids(gate, s, n, 1f);
      for (int j = 0; j < n; j++) {
        float silu = gate[j] * s[j];
        gate[j] = d[j] * up[j] * (s[j] + silu - silu * s[j]); // d gate
        up[j] = d[j] * silu; // d up
      }
      out.put(at, gate, 0, n);
      out.put(length + at, up, 0, n);
    }
  }

  /**
   * Σ a[i] for from ≤ i &lt; from + n in eight running sums, added pairwise at the end: unlike
   * one running sum, a loop the JIT vectorizes.
   */
  static float sum(float[] a, int from, int n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int i = from;
    int end = from + n;
    for (; i + 8 <= end; i += 8) {
      s0 += a[i];
      s1 += a[i + 1];
      s2 += a[i + 2];
      s3 += a[i + 3];
      s4 += a[i + 4];
      s5 += a[i + 5];
      s6 += a[i + 6];
      s7 += a[i + 7];
    }
    for (; i < end; i++) {
      s0 += a[i];
    }
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  }

  /** Σ a[i]·b[i] for from ≤ i &lt; from + n, in eight running sums as {@link #sum}. */
  static float dot(float[] a, float[] b, int from, int n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int i = from;
    int end = from + n;
    for (; i + 8 <= end; i += 8) {
      s0 += a[i] * b[i];
      s1 += a[i + 1] * b[i + 1];
      s2 += a[i + 2] * b[i + 2];
      s3 += a[i + 3] * b[i + 3];
      s4 += a[i + 4] * b[i + 4];
      s5 += a[i + 5] * b[i + 5];
      s6 += a[i + 6] * b[i + 6];
      s7 += a[i + 7] * b[i + 7];
    }
    for (; i < end; i++) {
      s0 += a[i] * b[i];
    }
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  }
}
