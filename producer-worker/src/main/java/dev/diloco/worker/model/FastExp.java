package dev.diloco.worker.model;

/**
 * e^x in float, within 2 ulp of {@code (float) Math.exp(x)}, at a fraction of its cost: HotSpot's
 * Math.exp took 10-17 ns here, most of a small model's softmax and SwiGLU. x = (32m + j)·ln 2/32
 * + r with |r| ≤ ln 2/64; e^x = 2^m · 2^(j/32) · e^r, the middle factor from a table of 32, e^r
 * by its Taylor series to r³ (truncation below 1e-9), 2^m built from its bits. Outside
 * [−87, 88], where 2^m would not be a normal float, Math.exp.
 */
final class FastExp {
  private FastExp() {}

  private static final float STEPS_PER_UNIT = (float) (32 / Math.log(2));
  /** ln 2 / 32 in two parts: the first of 11 bits, so that k·STEP_HI is exact for |k| < 2^13. */
  private static final float STEP_HI = 1420 / 65536f;
  private static final float STEP_LO = (float) (Math.log(2) / 32 - 1420 / 65536.0);
  /** Adding and subtracting 1.5·2^23 rounds a float of magnitude below 2^22 to an integer. */
  private static final float ROUND = 12582912f;
  private static final float[] TABLE = new float[32];

  static {
    for (int j = 0; j < 32; j++) {
      TABLE[j] = (float) Math.pow(2, j / 32.0);
    }
  }

  static float exp(float x) {
    if (!(x >= -87f && x <= 88f)) { // NaN too
      return (float) Math.exp(x);
    }
    float kf = (x * STEPS_PER_UNIT + ROUND) - ROUND;
    int k = (int) kf;
    float r = x - kf * STEP_HI - kf * STEP_LO;
    float p = 1 + r * (1 + r * (0.5f + r * (1 / 6f)));
    return p * TABLE[k & 31] * Float.intBitsToFloat(((k >> 5) + 127) << 23);
  }
}
