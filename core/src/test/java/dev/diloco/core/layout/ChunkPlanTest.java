package dev.diloco.core.layout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.schemas.DeadLetterReason;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class ChunkPlanTest {

  @Property(tries = 500)
  void chunksTileTheVectorInOrderWithOnlyTheLastShorter(
      @ForAll @LongRange(min = 1, max = 3_000_000) long total,
      @ForAll @IntRange(min = 1, max = 1 << 20) int chunk) {
    ChunkPlan plan = new ChunkPlan(total, chunk);
    int count = plan.chunkCount();
    assertThat((long) count * chunk).isGreaterThanOrEqualTo(total);
    assertThat((long) (count - 1) * chunk).isLessThan(total);
    // Check at most a few thousand chunks, spread over the whole vector.
    int step = Math.max(1, count / 2000);
    for (int i = 0; i < count; i += step) {
      ChunkRange r = plan.range(i);
      assertThat(r.offset()).isEqualTo((long) i * chunk);
      assertThat(r.count()).isEqualTo(i < count - 1 ? chunk : (int) (total - r.offset()));
      assertThat(plan.chunkOf(r.offset())).isEqualTo(i);
      assertThat(plan.chunkOf(r.end() - 1)).isEqualTo(i);
      assertThat(plan.check(i, count, r.offset(), r.count())).isEqualTo(r);
    }
    assertThat(plan.range(count - 1).end()).isEqualTo(total);
  }

  @Property(tries = 200)
  void anIndexOutsideTheVectorIsRejectedAsOutOfRange(
      @ForAll @LongRange(min = 1, max = 1_000_000) long total,
      @ForAll @IntRange(min = 1, max = 100_000) int chunk, @ForAll boolean below) {
    ChunkPlan plan = new ChunkPlan(total, chunk);
    int bad = below ? -1 : plan.chunkCount();
    assertThatThrownBy(() -> plan.range(bad))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.INDEX_OUT_OF_RANGE))
        .hasMessageContaining("chunk index " + bad + " is out of range");
  }

  @Test
  void aHeaderThatDisagreesWithThePlanIsRejectedWithItsReason() {
    ChunkPlan plan = new ChunkPlan(10, 4); // [0,4) [4,8) [8,10)
    assertThat(plan.chunkCount()).isEqualTo(3);
    assertThatThrownBy(() -> plan.check(1, 4, 4, 4))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.LAYOUT_MISMATCH));
    assertThatThrownBy(() -> plan.check(2, 3, 8, 4))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.WRONG_LENGTH))
        .hasMessageContaining("[8, 12)").hasMessageContaining("[8, 10)");
    assertThatThrownBy(() -> plan.check(3, 3, 12, 2))
        .isInstanceOfSatisfying(ChunkRejectedException.class,
            e -> assertThat(e.reason()).isEqualTo(DeadLetterReason.INDEX_OUT_OF_RANGE));
  }

  @Test
  void nonsensicalPlansAreRefusedWithTheValue() {
    assertThatThrownBy(() -> new ChunkPlan(0, 4)).hasMessageContaining("got 0");
    assertThatThrownBy(() -> new ChunkPlan(10, 0)).hasMessageContaining("got 0");
    assertThatThrownBy(() -> new ChunkPlan(Long.MAX_VALUE / 2, 1)).hasMessageContaining("chunks");
    assertThat(new ChunkPlan(1, ChunkPlan.DEFAULT_CHUNK_ELEMENTS).range(0).count()).isEqualTo(1);
  }
}
