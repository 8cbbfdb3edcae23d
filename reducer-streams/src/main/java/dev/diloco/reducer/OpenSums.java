package dev.diloco.reducer;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.core.rules.CheckedChunk;
import dev.diloco.core.rules.Verdict;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a task holds in memory while its round is open: the sums being built, by round and
 * chunk, and the chunks that wait: of workers that have not joined their round yet (their
 * heartbeat may reach the membership store after their chunks), or of the next round (its
 * commit may reach this task after them). Both are durable through the pointers in
 * {@link ReducerStores}, from which a starting task rebuilds them.
 */
final class OpenSums {

  /**
   * A checked chunk that waits for what it needs (its worker's membership, or its round's
   * commit), parked at {@code parkedAtMs} (the task's wall clock).
   */
  record Waiting(dev.diloco.schemas.PseudoGradientChunk chunk, PartialSum.Pointer where,
      long producedAtMs, long parkedAtMs) {}

  private final Map<String, PartialSum> sums = new HashMap<>();
  private final Map<String, Waiting> waiting = new TreeMap<>();
  /** The workers that have sent this task a chunk of each round. */
  private final Map<Integer, java.util.Set<String>> heard = new TreeMap<>();

  /**
   * Adds a checked contribution to its sum at {@code nowMs}; a second one of a worker is a
   * DUPLICATE.
   */
  Verdict<PartialSum> add(CheckedChunk c, long producedAtMs, long nowMs) {
    String key = RoundKeys.chunk(c.chunk().getRound(), c.range().index());
    PartialSum partial = sums.computeIfAbsent(key, k -> new PartialSum(c));
    try {
      partial.add(c, producedAtMs, nowMs);
    } catch (ChunkRejectedException duplicate) {
      return Verdict.of(duplicate);
    }
    heard.computeIfAbsent(c.chunk().getRound(), r -> new java.util.TreeSet<>())
        .add(c.chunk().getWorkerId());
    return Verdict.accept(partial);
  }

  /** The workers whose chunks of {@code round} this task has summed. */
  java.util.Set<String> heard(int round) {
    return heard.getOrDefault(round, java.util.Set.of());
  }

  PartialSum get(int round, int index) {
    return sums.get(RoundKeys.chunk(round, index));
  }

  void remove(int round, int index) {
    sums.remove(RoundKeys.chunk(round, index));
  }

  int size() {
    return sums.size();
  }

  boolean isWaiting(String contributionKey) {
    return waiting.containsKey(contributionKey);
  }

  void park(String contributionKey, Waiting w) {
    waiting.put(contributionKey, w);
  }

  Waiting unpark(String contributionKey) {
    return waiting.remove(contributionKey);
  }

  /** The waiting chunks, by contribution key, in key order (a copy). */
  Map<String, Waiting> waiting() {
    return new TreeMap<>(waiting);
  }

  /** Drops the sums of rounds before {@code round}; returns the chunks that were waiting there. */
  Map<String, Waiting> forgetBefore(int round) {
    sums.keySet().removeIf(key -> RoundKeys.roundOf(key) < round);
    heard.keySet().removeIf(r -> r < round);
    Map<String, Waiting> dropped = new TreeMap<>();
    waiting.entrySet().removeIf(e -> {
      if (RoundKeys.roundOf(e.getKey()) < round) {
        dropped.put(e.getKey(), e.getValue());
        return true;
      }
      return false;
    });
    return dropped;
  }

  void clear() {
    sums.clear();
    waiting.clear();
    heard.clear();
  }
}
