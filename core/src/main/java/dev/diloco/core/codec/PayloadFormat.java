package dev.diloco.core.codec;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.TensorEncoding;
import java.util.Objects;

/**
 * How a chunk's elements become its payload: encoded ({@link ElementCodec}), optionally split
 * into byte planes (all elements' byte 0, then all byte 1, ...: the high bytes of FP16 values
 * repeat much more than the low ones, so zstd does better on planes; float codecs only),
 * optionally compressed.
 */
public record PayloadFormat(ElementCodec codec, Compression compression, boolean bytePlanes) {

  public static final PayloadFormat FP16 = new PayloadFormat(TensorCodec.FP16, Compression.NONE, false);
  public static final PayloadFormat FP32 = new PayloadFormat(TensorCodec.FP32, Compression.NONE, false);

  public PayloadFormat {
    Objects.requireNonNull(codec, "codec");
    if (compression != Compression.NONE && compression != Compression.ZSTD) {
      throw new ChunkRejectedException(DeadLetterReason.UNKNOWN_COMPRESSION, "compression "
          + compression + " is not one this build knows (NONE, ZSTD)");
    }
    if (bytePlanes && codec.planeWidth() == 0) {
      throw new ChunkRejectedException(DeadLetterReason.LAYOUT_MISMATCH, "byte planes are for "
          + "float encodings; " + codec.encoding() + " has none");
    }
  }

  /**
   * The format named by a chunk's header fields, with the run's {@code blockSize} for block
   * codecs; unknown values are rejected with a reason.
   */
  public static PayloadFormat of(TensorEncoding encoding, int blockSize, Compression compression,
      boolean planes) {
    return new PayloadFormat(ElementCodec.of(encoding, blockSize), compression, planes);
  }

  /** The format a run's workers encode their pseudo-gradients in. */
  public static PayloadFormat of(ModelDescription run) {
    return of(run.getEncoding(), run.getBlockSize(), run.getCompression(), run.getBytePlanes());
  }

  public TensorEncoding encoding() {
    return codec.encoding();
  }

  /** Bytes of the decoded payload (encoded elements, before planes and compression). */
  public int decodedBytes(int elementCount) {
    return codec.encodedBytes(elementCount);
  }
}
