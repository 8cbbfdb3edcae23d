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
        double squares = 0;
        for (float v : row) {
          squares += v * v;
        }
        float s = (float) (1 / Math.sqrt(squares / c + eps));
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
      double[] dg = new double[c];
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
          dot += g[j] * d[j] * xr[j];
          dg[j] += d[j] * xr[j] * s;
        }
        float coef = (float) (s * s * s * dot / c);
        for (int j = 0; j < c; j++) {
          out[j] += s * g[j] * d[j] - xr[j] * coef;
        }
        dxb.put(r * c, out);
      }
      dGain.assign(Nd4j.createFromArray(Rows.toFloats(dg)));
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
      for (int r = 0; r < inv.length; r++) {
        xb.get(r * c, row);
        double sum = 0;
        for (float v : row) {
          sum += v;
        }
        float mu = (float) (sum / c);
        double squares = 0;
        for (float v : row) {
          squares += (v - mu) * (v - mu);
        }
        float s = (float) (1 / Math.sqrt(squares / c + eps));
        mean[r] = mu;
        inv[r] = s;
        for (int j = 0; j < c; j++) {
          row[j] = (row[j] - mu) * s * g[j] + b[j];
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
      double[] dg = new double[c];
      double[] db = new double[c];
      float[] d = new float[c];
      float[] xr = new float[c];
      float[] out = new float[c];
      for (int r = 0; r < inv.length; r++) {
        dyb.get(r * c, d);
        xb.get(r * c, xr);
        dxb.get(r * c, out);
        float s = inv[r];
        double meanG = 0;
        double meanGx = 0;
        for (int j = 0; j < c; j++) {
          float xhat = (xr[j] - mean[r]) * s;
          xr[j] = xhat;
          dg[j] += d[j] * xhat;
          db[j] += d[j];
          meanG += d[j] * g[j];
          meanGx += d[j] * g[j] * xhat;
        }
        float a = (float) (meanG / c);
        float b = (float) (meanGx / c);
        for (int j = 0; j < c; j++) {
          out[j] += s * (d[j] * g[j] - a - xr[j] * b);
        }
        dxb.put(r * c, out);
      }
      dGain.assign(Nd4j.createFromArray(Rows.toFloats(dg)));
      dBias.assign(Nd4j.createFromArray(Rows.toFloats(db)));
    }
  }
}
