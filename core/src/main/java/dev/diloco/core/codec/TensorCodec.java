package dev.diloco.core.codec;

import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.TensorEncoding;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Element codecs between {@code float[]} and little-endian bytes. They write into and read from
 * buffers the caller owns, and allocate nothing per call.
 */
public enum TensorCodec {
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

  /** The codec of a wire encoding; an encoding this build does not know is a rejected chunk. */
  public static TensorCodec of(TensorEncoding encoding) {
    if (encoding != null) {
      for (TensorCodec c : values()) {
        if (c.encoding == encoding) {
          return c;
        }
      }
    }
    throw new ChunkRejectedException(DeadLetterReason.UNKNOWN_ENCODING, "encoding " + encoding
        + " is not one this build knows (" + java.util.Arrays.toString(values()) + ")");
  }

  public TensorEncoding encoding() {
    return encoding;
  }

  public int bytesPerElement() {
    return bytesPerElement;
  }

  /** Writes {@code count} elements of {@code src} from {@code srcOff} at {@code dst[dstOff]}. */
  public abstract void encode(float[] src, int srcOff, int count, byte[] dst, int dstOff);

  /** Reads {@code count} elements at {@code src[srcOff]} into {@code dst} from {@code dstOff}. */
  public abstract void decode(byte[] src, int srcOff, int count, float[] dst, int dstOff);

  /** Index of the first infinite or NaN element, or -1 when all are finite. */
  public abstract int firstNonFinite(byte[] src, int srcOff, int count);
}
