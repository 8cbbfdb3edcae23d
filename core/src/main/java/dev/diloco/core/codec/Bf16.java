package dev.diloco.core.codec;

/**
 * bfloat16: the top 16 bits of an FP32, rounded to nearest, ties to even. Same range as FP32,
 * 8 bits of precision.
 */
public final class Bf16 {
  private Bf16() {}

  public static short fromFloat(float f) {
    int bits = Float.floatToRawIntBits(f);
    if ((bits & 0x7fff_ffff) > 0x7f80_0000) { // NaN: keep it a NaN after truncation
      return (short) ((bits >>> 16) | 0x0040);
    }
    int roundingBias = 0x7fff + ((bits >>> 16) & 1);
    return (short) ((bits + roundingBias) >>> 16);
  }

  public static float toFloat(short b) {
    return Float.intBitsToFloat((b & 0xffff) << 16);
  }

  public static boolean isNonFinite(short b) {
    return (b & 0x7f80) == 0x7f80;
  }
}
