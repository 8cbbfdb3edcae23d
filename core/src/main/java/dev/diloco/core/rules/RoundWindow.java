package dev.diloco.core.rules;

import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.layout.ChunkPlan;
import java.util.Set;
import java.util.function.IntPredicate;
import java.util.function.Predicate;

/**
 * What the rules of a pseudo-gradient chunk need to know of the run: its open round (the newest
 * committed one), how its vector is cut into chunks and encoded and how large a chunk may be,
 * into how many partitions its chunk topics are cut (0: unknown, not checked), which of the
 * round's chunks are closed (summed already, or past the round's deadline), and who trains in
 * it.
 */
public record RoundWindow(int round, ChunkPlan plan, ElementCodec codec, NormBound bound,
    int partitions, IntPredicate closed, Predicate<String> member) {

  /**
   * Round {@code round} as a replay sees it after the fact: open, none of its chunks closed,
   * and {@code members} (the workers its sums name) its members. What the reducer refused for
   * its own reasons (a bound it was given, a deadline) the replay learns from its dead letters.
   */
  public static RoundWindow replayed(int round, ChunkPlan plan, ElementCodec codec,
      int partitions, Set<String> members) {
    return new RoundWindow(round, plan, codec, NormBound.NONE, partitions, chunk -> false,
        members::contains);
  }
}
