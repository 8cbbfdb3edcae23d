package dev.diloco.core.codec;

/** Splits interleaved element bytes into planes and back. */
final class BytePlanes {
  private BytePlanes() {}

  /** {@code src}: count elements of width bytes each; {@code dst}: plane 0, plane 1, ... */
  static void split(byte[] src, int srcOff, int count, int width, byte[] dst, int dstOff) {
    for (int b = 0; b < width; b++) {
      int plane = dstOff + b * count;
      for (int i = 0; i < count; i++) {
        dst[plane + i] = src[srcOff + i * width + b];
      }
    }
  }

  static void join(byte[] src, int srcOff, int count, int width, byte[] dst, int dstOff) {
    for (int b = 0; b < width; b++) {
      int plane = srcOff + b * count;
      for (int i = 0; i < count; i++) {
        dst[dstOff + i * width + b] = src[plane + i];
      }
    }
  }
}
