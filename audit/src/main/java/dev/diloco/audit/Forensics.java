package dev.diloco.audit;

import dev.diloco.audit.TopicReader.Location;
import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.Fp16;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.TensorEncoding;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Which contribution explains a recorded sum that differs from the one recomputed from the
 * log? FP16 sums are exact, so the difference is what one chunk lost or gained after it was
 * summed; a contribution explains it when adding the difference to it gives FP16 values
 * everywhere.
 */
final class Forensics {
  private Forensics() {}

  /**
   * A sentence naming the contribution to chunk {@code c} (of {@code used}: worker to where its
   * summed chunk lies) that explains {@code recorded - recomputed}, or saying none or several do.
   */
  static String explain(TopicReader reader, ChunkDecoder decoder, TensorEncoding encoding,
      Map<String, Location> used, double[] recorded, double[] recomputed) {
    if (encoding != TensorEncoding.FP16) {
      return "no single contribution is singled out for " + encoding + " sums";
    }
    AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
    List<String> explaining = new ArrayList<>();
    reader.fetch(used.values(), record -> {
      PseudoGradientChunk chunk = serde.decode(record.value());
      float[] values = new float[recorded.length];
      decoder.decode(chunk.getPayload(), PayloadFormat.of(chunk.getEncoding(), 0,
          chunk.getCompression(), chunk.getBytePlanes()), recorded.length, chunk.getCrc32c(),
          values, 0);
      for (int i = 0; i < values.length; i++) {
        double was = values[i] + (recorded[i] - recomputed[i]);
        float f = (float) was;
        if (f != was || Fp16.toFloat(Fp16.fromFloat(f)) != f) {
          return;
        }
      }
      explaining.add("worker " + chunk.getWorkerId() + "'s chunk at partition "
          + record.partition() + ", offset " + record.offset());
    });
    if (explaining.size() == 1) {
      return explaining.get(0) + " explains it: with other FP16 values it gives the recorded "
          + "sum, so it was changed after the reducer summed it";
    }
    return explaining.isEmpty() ? "no single contribution explains it: the reducer's sum is "
        + "wrong, or several chunks changed" : "several contributions could explain it: "
        + explaining;
  }
}
