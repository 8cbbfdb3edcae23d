package dev.diloco.worker.model;

import java.nio.FloatBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.MulOp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Sigmoid;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The element-wise parts of {@link Llama}'s blocks, forward and backward: where there are
 * exponentials (SwiGLU, the causal softmax), ND4J's vectorised ops; the rest (RMSNorm, the
 * softmax's backward) as loops over rows, each row copied to the heap, worked on and written
 * back, so the loops are over plain arrays (arrays row-major and whole, not views).
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

  /** y = x / sqrt(mean(x²) + ε) · gain, for x, y [N, C]; each row's 1/sqrt(...) into inv [N]. */
  static void rmsNorm(INDArray x, float[] gain, double eps, INDArray y, float[] inv) {
    int c = gain.length;
    FloatBuffer xb = floats(x);
    FloatBuffer yb = floats(y);
    float[] row = new float[c];
    for (int r = 0; r < inv.length; r++) {
      xb.get(r * c, row);
      double squares = 0;
      for (float v : row) {
        squares += v * v;
      }
      float s = (float) (1 / Math.sqrt(squares / c + eps));
      inv[r] = s;
      for (int j = 0; j < c; j++) {
        row[j] = row[j] * s * gain[j];
      }
      yb.put(r * c, row);
    }
  }

  /**
   * RMSNorm's backward: dx += s·gain⊙dy − x·s³·mean(gain⊙dy⊙x) row by row, with s the row's
   * inv; the gain's gradient Σ_rows dy⊙x·s is returned.
   */
  static float[] rmsNormBackward(INDArray dy, INDArray x, float[] inv, float[] gain,
      INDArray dx) {
    int c = gain.length;
    FloatBuffer dyb = floats(dy);
    FloatBuffer xb = floats(x);
    FloatBuffer dxb = floats(dx);
    double[] dGain = new double[c];
    float[] d = new float[c];
    float[] xr = new float[c];
    float[] out = new float[c];
    for (int r = 0; r < inv.length; r++) {
      dyb.get(r * c, d);
      xb.get(r * c, xr);
      dxb.get(r * c, out);
      float s = inv[r];
      double dot = 0;
      for (int j = 0; j < c; j++) {
        dot += gain[j] * d[j] * xr[j];
        dGain[j] += d[j] * xr[j] * s;
      }
      float coef = (float) (s * s * s * dot / c);
      for (int j = 0; j < c; j++) {
        out[j] += s * gain[j] * d[j] - xr[j] * coef;
      }
      dxb.put(r * c, out);
    }
    float[] g = new float[c];
    for (int j = 0; j < c; j++) {
      g[j] = (float) dGain[j];
    }
    return g;
  }

  /**
   * SwiGLU: h = silu(gate)·up for gu = [gate; up] [2M, N] and h [M, N], silu(g) = g·σ(g); σ(gate)
   * and silu(gate) [M, N] into {@code sigmoid} and {@code silu} for the backward pass. By ND4J's
   * element-wise ops, vectorised: Math.exp took 10-17 ns an element here.
   */
  static void swiGlu(INDArray gu, INDArray sigmoid, INDArray silu, INDArray h) {
    INDArray gate = half(gu, 0);
    Nd4j.exec(new Sigmoid(gate, sigmoid));
    Nd4j.exec(new MulOp(gate, sigmoid, silu));
    Nd4j.exec(new MulOp(silu, half(gu, 1), h));
  }

  /**
   * SwiGLU's backward into dgu [2M, N]: d up = dh·silu(g), d gate = dh·up·σ(g)·(1 + g·(1 − σ(g)))
   * = dh·up·(σ + silu − silu·σ); {@code work} [M, N] is overwritten.
   */
  static void swiGluBackward(INDArray gu, INDArray sigmoid, INDArray silu, INDArray dh,
      INDArray dgu, INDArray work) {
    Nd4j.exec(new MulOp(dh, silu, half(dgu, 1)));
    Nd4j.exec(new MulOp(silu, sigmoid, work));
    work.rsubi(silu).addi(sigmoid); // σ + silu − silu·σ
    Nd4j.exec(new MulOp(work, half(gu, 1), work));
    Nd4j.exec(new MulOp(work, dh, half(dgu, 0)));
  }

  /** Rows [i·M, (i+1)·M) of x [2M, N]: a whole array's view (gate 0, up 1). */
  private static INDArray half(INDArray x, int i) {
    long m = x.size(0) / 2;
    return x.get(NDArrayIndex.interval(i * m, (i + 1) * m), NDArrayIndex.all());
  }

  /**
   * Softmax of each row of scores [G, R, T] in place, row i at position i mod T reading the
   * positions up to its own; the later ones get 0: they are set to −1e9 (a copy a row; ND4J's
   * broadcast add of a [T, T] mask took longer than the softmax), then ND4J's softmax,
   * vectorised.
   */
  static void causalSoftmax(INDArray scores) {
    int t = (int) scores.size(2);
    FloatBuffer b = floats(scores);
    float[] future = new float[t];
    java.util.Arrays.fill(future, -1e9f);
    long rows = scores.size(0) * scores.size(1);
    for (int r = 0; r < rows; r++) {
      int upTo = r % t; // the row's own position: rows are heads' positions 0..T-1 in turn
      b.put(r * t + upTo + 1, future, 0, t - upTo - 1);
    }
    Nd4j.exec(new SoftMax(scores, scores, 2));
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
      int upTo = r % t;
      pb.get(r * t, pr);
      db.get(r * t, dr);
      double dot = 0;
      for (int j = 0; j <= upTo; j++) {
        dot += dr[j] * pr[j];
      }
      for (int j = 0; j < t; j++) {
        dr[j] = j <= upTo ? (float) (pr[j] * (dr[j] - dot)) : 0f;
      }
      db.put(r * t, dr);
    }
  }
}
