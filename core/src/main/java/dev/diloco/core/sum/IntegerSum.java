package dev.diloco.core.sum;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import java.nio.ByteBuffer;
import java.util.Collections;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * An exact sum kept as one 64-bit integer per element, in units of a power of two: integer
 * addition does not care about order. A subclass says how many bytes a contribution has, how to
 * check it, and what it adds; a contribution is checked whole before anything is added, so a
 * rejected one leaves no trace.
 */
abstract sealed class IntegerSum implements ExactSum permits BlockSum, FixedPointSum {

  final long[] units;
  private final SortedSet<String> contributors = new TreeSet<>();
  private final int maxContributors;

  IntegerSum(int elementCount, int maxContributors) {
    if (elementCount < 1) {
      throw new IllegalArgumentException("elementCount must be >= 1, got " + elementCount);
    }
    this.units = new long[elementCount];
    this.maxContributors = maxContributors;
  }

  /** Bytes of one contribution of this sum's elements. */
  abstract int contributionBytes();

  /** What a contribution of the wrong length is called in its rejection: "an FP16 chunk". */
  abstract String chunkName();

  /** Rejects a contribution at {@code src[off]} that must not be added, with its reason. */
  abstract void check(String contributor, byte[] src, int off);

  /** Adds a checked contribution at {@code src[off]} to {@link #units}. */
  abstract void accumulate(byte[] src, int off);

  @Override
  public final int elementCount() {
    return units.length;
  }

  @Override
  public final void add(String contributor, ByteBuffer canonical) {
    checkNew(contributor, contributors, maxContributors);
    if (canonical.remaining() != contributionBytes()) {
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, chunkName() + " of "
          + units.length + " elements has " + contributionBytes() + " bytes, not "
          + canonical.remaining());
    }
    byte[] src = canonical.array();
    int off = canonical.arrayOffset() + canonical.position();
    check(contributor, src, off);
    accumulate(src, off);
    contributors.add(contributor);
  }

  @Override
  public final SortedSet<String> contributors() {
    return Collections.unmodifiableSortedSet(contributors);
  }

  static void checkNew(String contributor, SortedSet<String> contributors, int max) {
    if (contributor == null || contributor.isEmpty()) {
      throw new IllegalArgumentException("a contributor needs a non-empty id");
    }
    if (contributors.contains(contributor)) {
      throw new ChunkRejectedException(DeadLetterReason.DUPLICATE,
          contributor + " is already in this sum");
    }
    if (contributors.size() >= max) {
      throw new IllegalStateException("this sum already has the most contributors it takes, " + max);
    }
  }
}
