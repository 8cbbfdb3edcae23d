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
}
