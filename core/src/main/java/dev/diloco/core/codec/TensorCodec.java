package dev.diloco.core.codec;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.TensorEncoding;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Float codecs between {@code float[]} and little-endian bytes, one element at a time, at a fixed
 * width.
 */
public enum TensorCodec implements ElementCodec {
  FP32(TensorEncoding.FP32, 4) {
    @Override
    public void encode(float[] src, int srcOff, int count, byte[] dst, int dstOff) {
      for (int i = 0; i < count; i++) {
        INT_LE.set(dst, dstOff + 4 * i, Float.floatToRawIntBits(src[srcOff + i]));
      }
    }

    @Override
    public void decode(byte[] src, int srcOff, int count, float[] dst, int dstOff) {
      for (int i = 0; i < count; i++) {
        dst[dstOff + i] = Float.intBitsToFloat((int) INT_LE.get(src, srcOff + 4 * i));
      }
    }

    @Override
    public int firstNonFinite(byte[] src, int srcOff, int count) {
      for (int i = 0; i < count; i++) {
        if (((int) INT_LE.get(src, srcOff + 4 * i) & 0x7f80_0000) == 0x7f80_0000) {
          return i;
        }
      }
      return -1;
    }
  },

  FP16(TensorEncoding.FP16, 2) {
    @Override
    public void encode(float[] src, int srcOff, int count, byte[] dst, int dstOff) {
      for (int i = 0; i < count; i++) {
        SHORT_LE.set(dst, dstOff + 2 * i, Fp16.fromFloat(src[srcOff + i]));
      }
    }

    @Override
    public void decode(byte[] src, int srcOff, int count, float[] dst, int dstOff) {
      for (int i = 0; i < count; i++) {
        dst[dstOff + i] = Fp16.toFloat((short) SHORT_LE.get(src, srcOff + 2 * i));
      }
    }

    @Override
    public int firstNonFinite(byte[] src, int srcOff, int count) {
      for (int i = 0; i < count; i++) {
        if (Fp16.isNonFinite((short) SHORT_LE.get(src, srcOff + 2 * i))) {
          return i;
        }
      }
      return -1;
    }
  },

  BF16(TensorEncoding.BF16, 2) {
    @Override
    public void encode(float[] src, int srcOff, int count, byte[] dst, int dstOff) {
      for (int i = 0; i < count; i++) {
        SHORT_LE.set(dst, dstOff + 2 * i, Bf16.fromFloat(src[srcOff + i]));
      }
    }

    @Override
    public void decode(byte[] src, int srcOff, int count, float[] dst, int dstOff) {
      for (int i = 0; i < count; i++) {
        dst[dstOff + i] = Bf16.toFloat((short) SHORT_LE.get(src, srcOff + 2 * i));
      }
    }

    @Override
    public int firstNonFinite(byte[] src, int srcOff, int count) {
      for (int i = 0; i < count; i++) {
        if (Bf16.isNonFinite((short) SHORT_LE.get(src, srcOff + 2 * i))) {
          return i;
        }
      }
      return -1;
    }
  };

  static final VarHandle SHORT_LE =
      MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
  static final VarHandle INT_LE =
      MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

  private final TensorEncoding encoding;
  private final int bytesPerElement;

  TensorCodec(TensorEncoding encoding, int bytesPerElement) {
    this.encoding = encoding;
    this.bytesPerElement = bytesPerElement;
  }

  /**
   * The float codec of a wire encoding; an encoding this build does not know is a rejected
   * chunk. For any encoding, {@link ElementCodec#of}.
   */
  public static TensorCodec of(TensorEncoding encoding) {
    if (encoding == TensorEncoding.INT8 || encoding == TensorEncoding.INT4) {
      // A wire value, e.g. a weights chunk that says INT4: a rejection, never a crash.
      throw new ChunkRejectedException(DeadLetterReason.LAYOUT_MISMATCH, encoding + " is a "
          + "block encoding; this takes a float one (FP32, FP16, BF16)");
    }
    if (encoding != null) {
      for (TensorCodec c : values()) {
        if (c.encoding == encoding) {
          return c;
        }
      }
    }
    throw new ChunkRejectedException(DeadLetterReason.UNKNOWN_ENCODING, "encoding " + encoding
        + " is not one this build knows (FP32, FP16, BF16, INT8, INT4)");
  }

  @Override
  public TensorEncoding encoding() {
    return encoding;
  }

  public int bytesPerElement() {
    return bytesPerElement;
  }

  @Override
  public int encodedBytes(int count) {
    return Math.multiplyExact(count, bytesPerElement);
  }

  @Override
  public int planeWidth() {
    return bytesPerElement;
  }

  @Override
  public void check(byte[] src, int srcOff, int count) {
    int bad = firstNonFinite(src, srcOff, count);
    if (bad >= 0) {
      float[] one = new float[1];
      decode(src, srcOff + bad * bytesPerElement, 1, one, 0);
      throw new ChunkRejectedException(DeadLetterReason.NON_FINITE, "element " + bad
          + " of the chunk is " + one[0]);
    }
  }

  @Override
  public abstract void encode(float[] src, int srcOff, int count, byte[] dst, int dstOff);

  @Override
  public abstract void decode(byte[] src, int srcOff, int count, float[] dst, int dstOff);

  /** Index of the first infinite or NaN element, or -1 when all are finite. */
  public abstract int firstNonFinite(byte[] src, int srcOff, int count);
}
