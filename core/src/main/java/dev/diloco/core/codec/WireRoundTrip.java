package dev.diloco.core.codec;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;

/**
 * What the receivers of a vector decode: each chunk of {@code plan} encoded with the codec and
 * decoded again, as it goes over the wire. The codec's loss is {@code values − out}.
 */
public final class WireRoundTrip {

  private final ElementCodec codec;
  private final ChunkPlan plan;
  private final byte[] encoded;

  public WireRoundTrip(ElementCodec codec, ChunkPlan plan) {
    this.codec = codec;
    this.plan = plan;
    this.encoded = new byte[codec.encodedBytes(plan.chunkElements())];
  }

  /** {@code out} = what is decoded of {@code values} once sent; may be {@code values} itself. */
  public void decode(float[] values, float[] out) {
    if (values.length != plan.totalElements() || out.length != values.length) {
      throw new IllegalArgumentException("vectors of " + values.length + " and " + out.length
          + " elements for a plan of " + plan.totalElements());
    }
    for (int c = 0; c < plan.chunkCount(); c++) {
      ChunkRange range = plan.range(c);
      int from = Math.toIntExact(range.offset());
      codec.encode(values, from, range.count(), encoded, 0); // chunk by chunk, as it is sent
      codec.decode(encoded, 0, range.count(), out, from);
    }
  }
}
