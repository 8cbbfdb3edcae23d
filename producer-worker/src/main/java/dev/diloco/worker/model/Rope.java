package dev.diloco.worker.model;

/** Llama's rotary position tables, shared by its graph and its cached sampler. */
public final class Rope {
  private Rope() {}

  /**
   * cos and sin [T·hd] each of positions 0..T-1 as transformers computes them in float32:
   * inv_freq = 1 / θ^(2i/hd), angle = position · inv_freq, the same angle for i and i + hd/2.
   */
  public static float[][] table(int t, int hd, double theta) {
    float[] cos = new float[t * hd];
    float[] sin = new float[t * hd];
    for (int i = 0; i < hd / 2; i++) {
      float exponent = (float) (2 * i) / (float) hd;
      float inv = (float) (1.0 / (float) Math.pow(theta, exponent));
      for (int p = 0; p < t; p++) {
        float angle = p * inv;
        for (int j : new int[] {i, i + hd / 2}) {
          cos[p * hd + j] = (float) Math.cos(angle);
          sin[p * hd + j] = (float) Math.sin(angle);
        }
      }
    }
    return new float[][] {cos, sin};
  }

  /**
   * Rotates whole planes [T, hd] (one head at positions 0..T-1) in place by the tables of {@link
   * #table}: x·cos + rotate_half(x)·sin, by two copies of half rows and one loop over the plane
   * that the JIT vectorizes (a loop over each half row, 16 to 64 floats, stayed scalar); and by
   * its transpose. Keeps one scratch plane: one instance per thread.
   */
  static final class Planes {
    private final int hd;
    private final float[] cos; // [T·hd]
    private final float[] signedSin; // [T·hd]: −sin in each row's first half, rotate_half's sign
    private final float[] swappedSin; // [T·hd]: signedSin with each row's halves swapped
    private final float[] swapped; // [T·hd]: a plane with each row's halves swapped

    Planes(float[][] table, int hd) {
      this.hd = hd;
      this.cos = table[0];
      int n = cos.length;
      int half = hd / 2;
      signedSin = new float[n];
      for (int f = 0; f < n; f++) {
        signedSin[f] = f % hd < half ? -table[1][f] : table[1][f];
      }
      swappedSin = new float[n];
      swap(signedSin, 0, swappedSin);
      swapped = new float[n];
    }

    /** The {@code planes} planes at the start of x rotated: out = x·cos + swap(x)·signedSin. */
    void forward(float[] x, int planes) {
      turn(x, planes, signedSin);
    }

    /** The transpose, in place: d·cos + swap(d·signedSin) = d·cos + swap(d)·swappedSin. */
    void backward(float[] d, int planes) {
      turn(d, planes, swappedSin);
    }

    /** Each plane of x, in place: x·cos + swap(x)·sin. */
    private void turn(float[] x, int planes, float[] sin) {
      int n = cos.length;
      for (int off = 0; off < planes * n; off += n) {
        swap(x, off, swapped);
        for (int f = 0; f < n; f++) {
          x[off + f] = x[off + f] * cos[f] + swapped[f] * sin[f];
        }
      }
    }

    /** The plane of x at off into {@code into}, each row's two halves swapped. */
    private void swap(float[] x, int off, float[] into) {
      int half = hd / 2;
      for (int r = 0; r < cos.length; r += hd) {
        System.arraycopy(x, off + r + half, into, r, half);
        System.arraycopy(x, off + r, into, r + half, half);
      }
    }
  }
}
