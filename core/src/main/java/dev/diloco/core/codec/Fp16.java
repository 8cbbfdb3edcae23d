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
    // After F. Giesen's float_to_half_fast3_rtne: few branches, and the one between normal and
    // subnormal results lets the FPU's own round-to-nearest-even do the subnormal rounding.
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int abs = bits & 0x7fff_ffff;
    if (abs >= 0x4780_0000) { // >= 65536, infinity or NaN
      if (abs > 0x7f80_0000) {
        int payload = (abs >>> 13) & 0x3ff;
        return (short) (sign | 0x7c00 | (payload == 0 ? 0x200 : payload));
      }
      return (short) (sign | 0x7c00);
    }
    if (abs < 0x3880_0000) { // below 2^-14: a subnormal half or zero
      // Adding 0.5 aligns the value's units of 2^-24 with the float's last mantissa bits,
      // rounded to nearest even by the addition itself.
      return (short) (sign | (Float.floatToRawIntBits(Float.intBitsToFloat(abs) + 0.5f)
          - 0x3f00_0000));
    }
    // Rebias the exponent and round the 13 dropped bits to nearest even; a carry into the
    // exponent is right too, up to infinity for values from 65520.
    int odd = (abs >>> 13) & 1;
    return (short) (sign | ((abs + (-112 << 23) + 0xfff + odd) >>> 13));
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
