package dev.diloco.core.rules;

import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.OptimizerStateChunk;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WeightsChunk;
import java.nio.ByteBuffer;

/**
 * The check of a chunk of a vector the optimizer publishes (the weights of a round, its
 * momentum): its header agrees with the chunk plan, its payload decodes to exactly its elements
 * with its CRC32C, all finite. Workers loading a round, the optimizer resuming, export and
 * replay all decode published chunks here.
 */
public final class PublishedChunks {
  private PublishedChunks() {}

  /** A checked chunk's elements, and where they go in the vector. */
  public record Slice(ChunkRange range, float[] values) {
    /** Copies the elements to their place in {@code vector}. */
    public void copyInto(float[] vector) {
      System.arraycopy(values, 0, vector, Math.toIntExact(range.offset()), range.count());
    }
  }

  public static Verdict<Slice> weights(ChunkPlan plan, ChunkDecoder decoder, WeightsChunk w) {
    return decode(plan, decoder, w.getChunkIndex(), w.getChunkCount(), w.getElementOffset(),
        w.getElementCount(), w.getEncoding(),
        w.getPayload(), w.getCrc32c());
  }

  public static Verdict<Slice> momentum(ChunkPlan plan, ChunkDecoder decoder,
      OptimizerStateChunk s) {
    return decode(plan, decoder, s.getChunkIndex(), s.getChunkCount(), s.getElementOffset(),
        s.getElementCount(), TensorEncoding.FP32, s.getMomentum(), s.getCrc32c());
  }

  private static Verdict<Slice> decode(ChunkPlan plan, ChunkDecoder decoder, int index,
      int count, long offset, int elements, TensorEncoding encoding, ByteBuffer payload, int crc) {
    try {
      ChunkRange range = plan.check(index, count, offset, elements);
      float[] values = new float[range.count()];
      decoder.decode(payload, new PayloadFormat(TensorCodec.of(encoding), Compression.NONE,
          false), range.count(),
          crc, values, 0);
      return Verdict.accept(new Slice(range, values));
    } catch (ChunkRejectedException e) {
      return Verdict.of(e);
    }
  }
}
