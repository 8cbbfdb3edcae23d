package dev.diloco.reducer;

import dev.diloco.schemas.RoundFailure;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.function.IntFunction;
import java.util.function.IntPredicate;

/**
 * What a round's deadline decides for one task's chunks: each open sum with a quorum of
 * contributors is emitted as it is (incomplete); if any chunk has fewer, the round failed, and
 * the optimizer republishes its weights as the next round.
 *
 * @param emit the chunks whose sums go out now
 * @param missed the chunks without a quorum
 * @param seen who contributed to the chunks without a quorum
 */
record Deadline(List<Integer> emit, List<Integer> missed, SortedSet<String> seen) {

  /**
   * {@code owned}: the task's chunks of the round; {@code closed}: those summed already;
   * {@code open}: the open sum of a chunk, or null.
   */
  static Deadline decide(List<Integer> owned, IntPredicate closed, IntFunction<PartialSum> open,
      int quorum) {
    List<Integer> emit = new ArrayList<>();
    List<Integer> missed = new ArrayList<>();
    SortedSet<String> seen = new TreeSet<>();
    for (int index : owned) {
      if (closed.test(index)) {
        continue;
      }
      PartialSum partial = open.apply(index);
      if (partial != null && partial.contributions.size() >= quorum) {
        emit.add(index);
      } else {
        missed.add(index);
        if (partial != null) {
          seen.addAll(partial.sum.contributors());
        }
      }
    }
    return new Deadline(emit, missed, seen);
  }

  boolean failed() {
    return !missed.isEmpty();
  }

  /** The report of the failed round, for the optimizer. */
  RoundFailure failure(String runId, int round, int quorum, Duration timeout, long now) {
    String reason = "chunks " + missed + " had fewer than " + quorum + " contributors when the "
        + "deadline passed, " + timeout + " after the round opened";
    return new RoundFailure(runId, round, reason, new ArrayList<>(seen), quorum, now);
  }
}
