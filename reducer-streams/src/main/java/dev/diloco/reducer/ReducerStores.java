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
 * the input topic per open contribution (summed or waiting), a mark per closed chunk and per
 * round whose deadline passed, and the members of the open rounds that announced themselves on
 * their own topics. Nothing here grows with the rounds: {@link #forgetBefore}.
 */
final class ReducerStores {

  static final String POINTERS = "contribution-pointers";
  static final String CLOSED = "closed-chunks";
  static final String OWN_MEMBERS = "own-topic-members";

  private final KeyValueStore<String, byte[]> pointers;
  private final KeyValueStore<String, Long> closed;
  private final KeyValueStore<String, byte[]> ownMembers;

  ReducerStores(ProcessorContext<?, ?> context) {
    this.pointers = context.getStateStore(POINTERS);
    this.closed = context.getStateStore(CLOSED);
    this.ownMembers = context.getStateStore(OWN_MEMBERS);
  }

  /**
   * Records that {@code worker}, on its own topic, joined (true) or left {@code round}, heard
   * at {@code atMs}: a member's value is when it was last heard in the round.
   */
  void announced(String worker, int round, boolean member, long atMs) {
    ownMembers.put(RoundKeys.ownTopic(worker), new byte[0]);
    if (member) {
      ownMembers.put(RoundKeys.member(round, worker),
          java.nio.ByteBuffer.allocate(Long.BYTES).putLong(atMs).array());
    } else {
      ownMembers.delete(RoundKeys.member(round, worker));
    }
  }

  /** Whether {@code worker} has announced itself on its own topic here. */
  boolean speaksOnOwnTopic(String worker) {
    return ownMembers.get(RoundKeys.ownTopic(worker)) != null;
  }

  boolean isOwnTopicMember(int round, String worker) {
    return ownMembers.get(RoundKeys.member(round, worker)) != null;
  }

  /** The workers that joined {@code round} on their own topics and have not left it. */
  java.util.Set<String> ownTopicMembers(int round) {
    return ownTopicMembersHeardSince(round, Long.MIN_VALUE);
  }

  /**
   * The workers of {@code round} on their own topics last heard at {@code sinceMs} or later (a
   * member kept by an earlier version, without the time, counts as heard at 0).
   */
  java.util.Set<String> ownTopicMembersHeardSince(int round, long sinceMs) {
    java.util.Set<String> workers = new java.util.TreeSet<>();
    try (KeyValueIterator<String, byte[]> it =
        ownMembers.range(RoundKeys.roundStart(round), RoundKeys.roundEnd(round))) {
      it.forEachRemaining(kv -> {
        long heard = kv.value.length == Long.BYTES ? java.nio.ByteBuffer.wrap(kv.value).getLong()
            : 0;
        if (heard >= sinceMs) {
          workers.add(RoundKeys.afterSlash(kv.key));
        }
      });
    }
    return workers;
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

  /** Drops the pointers, marks and members of every round before {@code round}. */
  void forgetBefore(int round) {
    for (KeyValueStore<String, ?> store : List.of(pointers, closed, ownMembers)) {
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
