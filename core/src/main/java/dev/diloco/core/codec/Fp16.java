package dev.diloco.core.codec;

/**
 * IEEE 754 binary16 conversions: round to nearest, ties to even; subnormals, signed zeros, the
 * infinities and NaN payloads kept exact. (Java 20 has {@code Float.floatToFloat16}; this
 * project targets Java 17.)
 */
public final class Fp16 {

  /** The largest finite half, 65504. */
  public static final float MAX_VALUE = 65504f;

  private static final float[] TO_FLOAT = new float[1 << 16];

  static {
    for (int h = 0; h < TO_FLOAT.length; h++) {
      TO_FLOAT[h] = convert((short) h);
    }
  }

  private Fp16() {}

  /** The half nearest to {@code f} (ties to even); NaN stays NaN with its top payload bits. */
  public static short fromFloat(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int abs = bits & 0x7fff_ffff;
    if (abs >= 0x7f80_0000) { // infinity or NaN
      if (abs == 0x7f80_0000) {
        return (short) (sign | 0x7c00);
      }
      int payload = (abs >>> 13) & 0x3ff;
      return (short) (sign | 0x7c00 | (payload == 0 ? 0x200 : payload));
    }
    if (abs >= 0x477f_f000) { // >= 65520, half-way to 65536 and beyond: rounds to infinity
      return (short) (sign | 0x7c00);
    }
    if (abs >= 0x3880_0000) { // >= 2^-14: a normal half
      int half = ((abs >>> 23) - 112) << 10 | ((abs >>> 13) & 0x3ff);
      int rest = abs & 0x1fff;
      if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) {
        half++; // a carry into the exponent is the right answer too
      }
      return (short) (sign | half);
    }
    if (abs <= 0x3300_0000) { // <= 2^-25: half-way to the smallest subnormal or below
      return (short) sign;
    }
    // A subnormal half counts units of 2^-24: shift the 24-bit significand down to them.
    int exponent = abs >>> 23;
    int significand = (abs & 0x7f_ffff) | 0x80_0000;
    int shift = 126 - exponent; // 14..24
    int half = significand >>> shift;
    int rest = significand & ((1 << shift) - 1);
    int halfway = 1 << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1) != 0)) {
      half++;
    }
    return (short) (sign | half);
  }

  /** The float with the same value as the half {@code h} (exact: every half is a float). */
  public static float toFloat(short h) {
    return TO_FLOAT[h & 0xffff];
  }

  /** True when {@code h} is an infinity or a NaN. */
  public static boolean isNonFinite(short h) {
    return (h & 0x7c00) == 0x7c00;
  }

  private static float convert(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    if (exponent == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f80_0000 | mantissa << 13);
    }
    if (exponent == 0) { // zero or subnormal: mantissa units of 2^-24, exact in a float
      float magnitude = mantissa * 0x1p-24f;
      return sign != 0 ? -magnitude : magnitude;
    }
    return Float.intBitsToFloat(sign | (exponent + 112) << 23 | mantissa << 13);
  }
}
