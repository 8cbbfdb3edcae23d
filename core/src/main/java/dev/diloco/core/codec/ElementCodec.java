package dev.diloco.core.codec;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.TensorEncoding;

/**
 * How a chunk's elements become bytes and back: a float codec ({@link TensorCodec}: FP32, FP16,
 * BF16, each element on its own) or a block codec ({@link BlockCodec}: INT8, INT4, integer codes
 * under one power-of-two scale per block). Codecs write into and read from buffers the caller
 * owns, and allocate nothing per call.
 */
public interface ElementCodec {

  /** The codec of a wire encoding; {@code blockSize} is the run's, used by block codecs only. */
  static ElementCodec of(TensorEncoding encoding, int blockSize) {
    if (encoding == TensorEncoding.INT8 || encoding == TensorEncoding.INT4) {
      return new BlockCodec(encoding, blockSize);
    }
    return TensorCodec.of(encoding);
  }

  /** Rejects an encoding this build does not know (UNKNOWN_ENCODING). */
  static void requireKnown(TensorEncoding encoding) {
    if (encoding == null || encoding == TensorEncoding.UNKNOWN) {
      TensorCodec.of(encoding);
    }
  }

  TensorEncoding encoding();

  /** Bytes that {@code count} elements take, from the start of a chunk. */
  int encodedBytes(int count);

  /**
   * Bytes per element when the payload may be split into byte planes; 0 when it may not (a
   * block codec's bytes are not one width per element).
   */
  int planeWidth();

  /** Writes {@code count} elements of {@code src} from {@code srcOff} at {@code dst[dstOff]}. */
  void encode(float[] src, int srcOff, int count, byte[] dst, int dstOff);

  /** Reads {@code count} elements at {@code src[srcOff]} into {@code dst} from {@code dstOff}. */
  void decode(byte[] src, int srcOff, int count, float[] dst, int dstOff);

  /**
   * Checks {@code count} encoded elements at {@code src[srcOff]} before anyone reads their
   * values: a float that is not finite (NON_FINITE), a scale or a code outside the codec's range
   * (SCALE_OUT_OF_RANGE, CODE_OUT_OF_RANGE) throws {@link ChunkRejectedException}.
   */
  void check(byte[] src, int srcOff, int count);
}
