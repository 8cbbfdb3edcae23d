package dev.diloco.reducer;

import dev.diloco.core.kafka.WireBounds;
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

  /**
   * Whether a sum is complete: every member of the round is in it, and they are a quorum.
   * Fewer members than the quorum means workers have not announced themselves yet (one
   * restarting, say): they are waited for, up to the deadline, as the quorum says.
   */
  static boolean complete(PartialSum partial, java.util.Set<String> members, int quorum) {
    return partial.sum.contributors().size() >= quorum
        && partial.sum.contributors().containsAll(members);
  }

  /**
   * Whether a sum need wait no longer for its missing members before the deadline: it has a
   * quorum, none of its missing members is {@code heard} (it has sent this task a chunk of the
   * round, or said on its own topic within the grace that it trains: a member that is sending
   * or training is waited for, however slow), and since its first contribution, {@code grace}
   * has passed, at least {@code minGrace} and as long as the first contribution took after the
   * round opened. A member that joined and is never heard from (a forged JOIN, a worker gone)
   * holds a round no longer than that.
   */
  static boolean graceIsOver(PartialSum partial, java.util.Set<String> members,
      java.util.Set<String> heard, int quorum, Duration minGrace, long openedAtMs, long nowMs) {
    if (partial.contributions.size() < quorum || partial.firstAddedAtMs < 0) {
      return false;
    }
    for (String member : members) {
      if (!partial.sum.contributors().contains(member) && heard.contains(member)) {
        return false;
      }
    }
    long grace = Math.max(minGrace.toMillis(),
        partial.firstAddedAtMs - openedAtMs);
    return nowMs - partial.firstAddedAtMs >= grace;
  }

  boolean failed() {
    return !missed.isEmpty();
  }

  /** The report of the failed round, for the optimizer. */
  RoundFailure failure(String runId, int round, int quorum, Duration timeout, long now) {
    String reason = "chunks " + missed + " had fewer than " + quorum + " contributors when the "
        + "deadline passed, " + timeout + " after the round opened";
    return new RoundFailure(runId, round, WireBounds.fit(RoundFailure.SCHEMA$, "reason", reason),
        new ArrayList<>(seen), quorum, now);
  }
}
