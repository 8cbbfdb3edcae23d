package dev.diloco.worker.model;

import java.nio.FloatBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The MLP activations of GPT-2 as its config's {@code activation_function} names them, gelu_new
 * (the tanh form, GPT-2's own), gelu (exact, by erf) and relu, and the byte model's
 * gelu_sigmoid (ND4J's GELU, x·σ(1.702x)), with their derivatives. One place for the cached
 * samplers' single values and the model's arrays.
 */
public final class Activations {
  private Activations() {}

  private static final float SQRT_2_OVER_PI = (float) Math.sqrt(2 / Math.PI);
  private static final float INV_SQRT_2 = (float) (1 / Math.sqrt(2));
  private static final float INV_SQRT_2PI = (float) (1 / Math.sqrt(2 * Math.PI));

  /** The activation {@code name} of x. */
  public static float apply(String name, float x) {
    return switch (name) {
      case "gelu_new" -> 0.5f * x * (1 + tanh(SQRT_2_OVER_PI * (x + 0.044715f * x * x * x)));
      case "gelu" -> (float) (0.5 * x * (1 + erf(x * INV_SQRT_2)));
      case "relu" -> Math.max(x, 0f);
      case "gelu_sigmoid" -> x * sigmoid(1.702f * x);
      default -> throw new IllegalArgumentException("MLP activation " + name);
    };
  }

  /** Its derivative at x. */
  static float derivative(String name, float x) {
    return switch (name) {
      case "gelu_new" -> {
        float th = tanh(SQRT_2_OVER_PI * (x + 0.044715f * x * x * x));
        yield 0.5f * (1 + th)
            + 0.5f * x * (1 - th * th) * SQRT_2_OVER_PI * (1 + 3 * 0.044715f * x * x);
      }
      case "gelu" -> (float) (0.5 * (1 + erf(x * INV_SQRT_2)))
          + x * INV_SQRT_2PI * FastExp.exp(-0.5f * x * x);
      case "relu" -> x > 0 ? 1f : 0f;
      case "gelu_sigmoid" -> {
        float s = sigmoid(1.702f * x);
        yield s * (1 + 1.702f * x * (1 - s));
      }
      default -> throw new IllegalArgumentException("MLP activation " + name);
    };
  }

  /**
   * y = f(x) element by element, for whole arrays of one shape. The byte model's and GPT-2's
   * own activations in loops the JIT vectorizes, σ in one ({@link FastExp#sigmoids}) and the
   * rest in others (tanh(u) = 2σ(2u) − 1); matching the name per element took a third of the
   * tiny byte model's step. Over blocks of {@link Softmax#BLOCK} elements, not rows, for the
   * reason {@link Softmax} gives.
   */
  static void forward(String name, INDArray x, INDArray y) {
    FloatBuffer in = Rows.floats(x);
    FloatBuffer out = Rows.floats(y);
    int length = (int) x.length();
    float[] v = new float[Math.min(length, Softmax.BLOCK)];
    float[] s = new float[v.length];
    for (int at = 0; at < length; at += v.length) {
      int n = Math.min(v.length, length - at);
      in.get(at, v, 0, n);
      if (sigmoidOf(name, v, s, n)) {
        for (int j = 0; j < n; j++) {
          v[j] *= s[j]; // x·σ(1.702x); 0.5·x·(1 + tanh u) = x·σ(2u)
        }
      } else {
        for (int j = 0; j < n; j++) {
          v[j] = apply(name, v[j]);
        }
      }
      out.put(at, v, 0, n);
    }
  }

  /** dx = dy·f'(x) element by element; dy may be dx. Loops as {@link #forward}'s. */
  static void backward(String name, INDArray x, INDArray dy, INDArray dx) {
    FloatBuffer in = Rows.floats(x);
    FloatBuffer d = Rows.floats(dy);
    FloatBuffer out = Rows.floats(dx);
    int length = (int) x.length();
    float[] v = new float[Math.min(length, Softmax.BLOCK)];
    float[] g = new float[v.length];
    float[] s = new float[v.length];
    for (int at = 0; at < length; at += v.length) {
      int n = Math.min(v.length, length - at);
      in.get(at, v, 0, n);
      d.get(at, g, 0, n);
      if (!sigmoidOf(name, v, s, n)) {
        for (int j = 0; j < n; j++) {
          g[j] *= derivative(name, v[j]);
        }
      } else if (name.equals("gelu_sigmoid")) {
        for (int j = 0; j < n; j++) {
          g[j] *= s[j] * (1 + 1.702f * v[j] * (1 - s[j]));
        }
      } else {
        for (int j = 0; j < n; j++) { // gelu_new, th = 2σ(2u) − 1
          float th = 2 * s[j] - 1;
          float x2 = v[j] * v[j];
          g[j] *= 0.5f * (1 + th)
              + 0.5f * v[j] * (1 - th * th) * SQRT_2_OVER_PI * (1 + 3 * 0.044715f * x2);
        }
      }
      out.put(at, g, 0, n);
    }
  }

  /**
   * For the activations that are x·σ(something): s = σ(1.702x) (gelu_sigmoid) or σ(2u) with u =
   * √(2/π)·(x + 0.044715x³) (gelu_new) for the first n of x, and true; false for the others.
   */
  private static boolean sigmoidOf(String name, float[] x, float[] s, int n) {
    switch (name) {
      case "gelu_sigmoid" -> FastExp.sigmoids(x, s, n, 1.702f);
      case "gelu_new" -> {
        for (int j = 0; j < n; j++) {
          s[j] = SQRT_2_OVER_PI * (x[j] + 0.044715f * x[j] * x[j] * x[j]);
        }
        FastExp.sigmoids(s, s, n, 2f);
      }
      default -> {
        return false;
      }
    }
    return true;
  }

  private static float sigmoid(float x) {
    return 1 / (1 + FastExp.exp(-x));
  }

  /** tanh(u) = 1 − 2 / (e^(2u) + 1), by {@link FastExp}: Math.tanh took 20 ns here. */
  static float tanh(float u) {
    return 1 - 2 / (FastExp.exp(2 * u) + 1);
  }

  /** erf by Abramowitz and Stegun 7.1.26: within 1.5e-7, below a float's precision here. */
  static double erf(double x) {
    double t = 1 / (1 + 0.3275911 * Math.abs(x));
    double y = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
        + t * 1.061405429)))) * Math.exp(-x * x);
    return Math.copySign(y, x);
  }
}
