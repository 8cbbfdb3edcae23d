package dev.diloco.worker.model;

import java.nio.FloatBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A normalisation over the last axis of x [N, C], forward and backward, with its gain (and bias)
 * and their gradients as views of the model's flat vectors; it keeps what its backward pass
 * reads of the last forward pass. Loops over rows: each row copied to the heap and back.
 */
abstract class Norm {
  final INDArray gain; // [C]
  final INDArray dGain; // [C]
  final double eps;
  final float[] inv; // [N]: 1 / sqrt(mean square (+ ε)) of each row
  INDArray x; // [N, C]: the last input

  Norm(INDArray gain, INDArray dGain, double eps, int rows) {
    this.gain = gain;
    this.dGain = dGain;
    this.eps = eps;
    this.inv = new float[rows];
  }

  /** y [N, C] of x [N, C]; x is kept (not copied) for the backward pass. */
  abstract void forward(INDArray x, INDArray y);

  /** dx [N, C] += the gradient in x of dy [N, C]; the gain's (and bias's) gradients written. */
  abstract void backward(INDArray dy, INDArray dx);

  /** Llama's RMSNorm: y = x / sqrt(mean(x²) + ε) · gain. */
  static final class Rms extends Norm {
    Rms(INDArray gain, INDArray dGain, double eps, int rows) {
      super(gain, dGain, eps, rows);
    }

    @Override
    void forward(INDArray in, INDArray y) {
      x = in;
      float[] g = gain.toFloatVector();
      int c = g.length;
      FloatBuffer xb = Rows.floats(x);
      FloatBuffer yb = Rows.floats(y);
      float[] row = new float[c];
      for (int r = 0; r < inv.length; r++) {
        xb.get(r * c, row);
        float s = (float) (1 / Math.sqrt(Rows.dot(row, row, 0, c) / c + eps));
        inv[r] = s;
        for (int j = 0; j < c; j++) {
          row[j] = row[j] * s * g[j];
        }
        yb.put(r * c, row);
      }
    }

    /** dx += s·gain⊙dy − x·s³·mean(gain⊙dy⊙x) row by row, s the row's inv. */
    @Override
    void backward(INDArray dy, INDArray dx) {
      float[] g = gain.toFloatVector();
      int c = g.length;
      FloatBuffer dyb = Rows.floats(dy);
      FloatBuffer xb = Rows.floats(x);
      FloatBuffer dxb = Rows.floats(dx);
      float[] dg = new float[c];
      float[] d = new float[c];
      float[] gd = new float[c];
      float[] xr = new float[c];
      float[] out = new float[c];
      for (int r = 0; r < inv.length; r++) {
        dyb.get(r * c, d);
        xb.get(r * c, xr);
        dxb.get(r * c, out);
        float s = inv[r];
        for (int j = 0; j < c; j++) {
          gd[j] = g[j] * d[j];
          dg[j] += d[j] * xr[j] * s;
        }
        float coef = s * s * s * Rows.dot(gd, xr, 0, c) / c;
        for (int j = 0; j < c; j++) {
          out[j] += s * gd[j] - xr[j] * coef;
        }
        dxb.put(r * c, out);
      }
      dGain.assign(Nd4j.createFromArray(dg));
    }
  }

  /**
   * GPT-2's LayerNorm: y = (x − mean) / sqrt(var + ε) · gain + bias. Backward, with x̂ the
   * normalised row and g = dy·gain: dx = inv·(g − mean(g) − x̂·mean(g·x̂)).
   */
  static final class Layer extends Norm {
    private final INDArray bias;
    private final INDArray dBias;
    private final float[] mean;

    Layer(INDArray gain, INDArray bias, INDArray dGain, INDArray dBias, double eps, int rows) {
      super(gain, dGain, eps, rows);
      this.bias = bias;
      this.dBias = dBias;
      this.mean = new float[rows];
    }

    @Override
    void forward(INDArray in, INDArray y) {
      x = in;
      float[] g = gain.toFloatVector();
      float[] b = bias.toFloatVector();
      int c = g.length;
      FloatBuffer xb = Rows.floats(x);
      FloatBuffer yb = Rows.floats(y);
      float[] row = new float[c];
      float[] centred = new float[c];
      for (int r = 0; r < inv.length; r++) {
        xb.get(r * c, row);
        float mu = Rows.sum(row, 0, c) / c;
        for (int j = 0; j < c; j++) {
          centred[j] = row[j] - mu;
        }
        float s = (float) (1 / Math.sqrt(Rows.dot(centred, centred, 0, c) / c + eps));
        mean[r] = mu;
        inv[r] = s;
        for (int j = 0; j < c; j++) {
          row[j] = centred[j] * s * g[j] + b[j];
        }
        yb.put(r * c, row);
      }
    }

    @Override
    void backward(INDArray dy, INDArray dx) {
      float[] g = gain.toFloatVector();
      int c = g.length;
      FloatBuffer dyb = Rows.floats(dy);
      FloatBuffer xb = Rows.floats(x);
      FloatBuffer dxb = Rows.floats(dx);
      float[] dg = new float[c];
      float[] db = new float[c];
      float[] d = new float[c];
      float[] gd = new float[c];
      float[] xr = new float[c];
      float[] out = new float[c];
      for (int r = 0; r < inv.length; r++) {
        dyb.get(r * c, d);
        xb.get(r * c, xr);
        dxb.get(r * c, out);
        float s = inv[r];
        float mu = mean[r];
        for (int j = 0; j < c; j++) {
          xr[j] = (xr[j] - mu) * s; // x̂
          dg[j] += d[j] * xr[j];
          db[j] += d[j];
          gd[j] = d[j] * g[j];
        }
        float a = Rows.sum(gd, 0, c) / c;
        float b = Rows.dot(gd, xr, 0, c) / c;
        for (int j = 0; j < c; j++) {
          out[j] += s * (gd[j] - a - xr[j] * b);
        }
        dxb.put(r * c, out);
      }
      dGain.assign(Nd4j.createFromArray(dg));
      dBias.assign(Nd4j.createFromArray(db));
    }
  }
}
