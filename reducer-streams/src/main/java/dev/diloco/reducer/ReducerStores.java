package dev.diloco.reducer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The reducer's durable state, changelogged for exactly-once recovery, and small: a pointer into
 * the input topic per open contribution (summed or waiting), and a mark per closed chunk and
 * per round whose deadline passed. Nothing here grows with the rounds: {@link #forgetBefore}.
 */
final class ReducerStores {

  static final String POINTERS = "contribution-pointers";
  static final String CLOSED = "closed-chunks";

  private final KeyValueStore<String, byte[]> pointers;
  private final KeyValueStore<String, Long> closed;

  ReducerStores(ProcessorContext<?, ?> context) {
    this.pointers = context.getStateStore(POINTERS);
    this.closed = context.getStateStore(CLOSED);
  }

  /** Remembers where a contribution lies, so a restarted task can read it again. */
  void point(String contributionKey, PartialSum.Pointer where) {
    pointers.put(contributionKey, where.toBytes());
  }

  void unpoint(String contributionKey) {
    pointers.delete(contributionKey);
  }

  /** Every pointer, by contribution key: what a starting task re-reads. */
  Map<String, PartialSum.Pointer> allPointers() {
    Map<String, PartialSum.Pointer> all = new TreeMap<>();
    try (KeyValueIterator<String, byte[]> it = pointers.all()) {
      it.forEachRemaining(kv -> all.put(kv.key, PartialSum.Pointer.fromBytes(kv.value)));
    }
    return all;
  }

  /** Marks chunk {@code index} of {@code round} closed: its sum was emitted. */
  void closeChunk(int round, int index, long now) {
    closed.put(RoundKeys.chunk(round, index), now);
  }

  /** Whether a chunk of {@code round} takes no more contributions: summed, or past the deadline. */
  boolean isClosed(int round, int index) {
    return closed.get(RoundKeys.chunk(round, index)) != null || deadlinePassed(round);
  }

  boolean deadlinePassed(int round) {
    return closed.get(RoundKeys.deadline(round)) != null;
  }

  void markDeadline(int round, long now) {
    closed.put(RoundKeys.deadline(round), now);
  }

  /** Drops the pointers and marks of every round before {@code round}. */
  void forgetBefore(int round) {
    for (KeyValueStore<String, ?> store : List.of(pointers, closed)) {
      List<String> old = new ArrayList<>();
      try (KeyValueIterator<String, ?> it = store.range(RoundKeys.roundStart(0),
          RoundKeys.roundStart(round))) {
        it.forEachRemaining(kv -> {
          if (RoundKeys.roundOf(kv.key) < round) {
            old.add(kv.key);
          }
        });
      }
      old.forEach(store::delete);
    }
  }
}
