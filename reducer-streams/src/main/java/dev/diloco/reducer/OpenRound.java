package dev.diloco.reducer;

import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.rules.RoundDeadline;
import dev.diloco.schemas.ModelDescription;
import java.util.ArrayList;
import java.util.List;

/**
 * The open round of the run (its newest verified commit), with what is needed to check and sum
 * its chunks and to close it: {@code openedAtMs} is the commit's time, from which the run's
 * {@code deadline} counts.
 */
record OpenRound(int round, long openedAtMs, ModelDescription model, ChunkPlan plan,
    ElementCodec codec, RoundDeadline deadline) {

  /** The round's chunks whose records land in {@code partition} of {@code partitions}. */
  List<Integer> chunksOf(RunTopics topics, int partition, int partitions) {
    List<Integer> owned = new ArrayList<>();
    for (int i = 0; i < plan.chunkCount(); i++) {
      if (topics.partitionOf(i, partitions) == partition) {
        owned.add(i);
      }
    }
    return owned;
  }

  /** Whether the round's deadline has passed at {@code nowMs}. */
  boolean closedBy(long nowMs) {
    return deadline.passed(openedAtMs, nowMs);
  }
}
