package dev.diloco.audit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.audit.TopicReader.Location;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.codec.PseudoGradientRecords;
import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.PseudoGradientChunk;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The replay's recomputation of one sum, fed records by hand: no Kafka. */
class ReplayedReductionTest {

  private static final RunTopics TOPICS = new RunTopics("replayed");
  private static final ChunkPlan PLAN = new ChunkPlan(4, 4); // one chunk of 4 elements
  private static final AvroSerde<PseudoGradientChunk> SERDE =
      AvroSerde.of(PseudoGradientChunk.class);
  private long offset;

  private byte[] chunk(String worker, float... delta) {
    try (var records = new PseudoGradientRecords("replayed", worker, PLAN, PayloadFormat.FP16)) {
      return SERDE.encode(records.chunk(0, 0, delta,
          new PseudoGradientRecords.Stats(10, 100, 2f)));
    }
  }

  private Location at(byte[] value) {
    return new Location(TOPICS.pseudoGradients(), 0, offset++, value.length);
  }

  @Test
  void theSumIsOfTheFirstValidChunkOfEachWorkerTheRecordedSumNames() {
    try (ReplayedReduction reduction = new ReplayedReduction(TOPICS, 0, PLAN,
        TensorCodec.FP16, 1, Map.of(0, Set.of("a", "b")), Map.of())) {
      byte[] a = chunk("a", 1f, 0.5f, -2f, 0.25f);
      PseudoGradientChunk spoiled = SERDE.decode(chunk("b", 3f, 3f, 3f, 3f));
      spoiled.put("crc32c", spoiled.getCrc32c() ^ 1);
      byte[] bad = SERDE.encode(spoiled);
      byte[] b = chunk("b", 0.125f, 0.5f, 1f, -0.25f);
      byte[] again = chunk("a", 100f, 100f, 100f, 100f);
      byte[] stranger = chunk("c", 7f, 7f, 7f, 7f);

      assertThat(reduction.add(at(a), a).accepted()).isTrue();
      assertThat(reduction.add(at(bad), bad)).isInstanceOfSatisfying(
          Verdict.Reject.class,
          r -> assertThat(r.reason()).isEqualTo(DeadLetterReason.CRC_MISMATCH));
      assertThat(reduction.rejected).containsKey("0/b");
      assertThat(reduction.add(at(b), b).accepted()).isTrue();
      assertThat(reduction.rejected).doesNotContainKey("0/b"); // b's valid chunk came after
      assertThat(reduction.add(at(again), again)).isInstanceOfSatisfying(
          Verdict.Reject.class,
          r -> assertThat(r.reason()).isEqualTo(DeadLetterReason.DUPLICATE));
      assertThat(reduction.add(at(stranger), stranger))
          .as("a worker the recorded sum does not name is no member of its round")
          .isInstanceOf(Verdict.Wait.class);

      double[] sum = new double[4];
      reduction.sums.get(0).sumTo(sum, 0);
      // a + b, each value exact in FP16, added exactly.
      assertThat(sum).containsExactly(1.125, 1.0, -1.0, 0.0);
      assertThat(reduction.sums.get(0).contributors()).containsExactly("a", "b");
      assertThat(reduction.used).containsOnlyKeys("0/a", "0/b");
      assertThat(reduction.tokens).containsEntry("0/a", 100L);
    }
  }
}
