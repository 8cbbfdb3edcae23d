package dev.diloco.core.layout;

import dev.diloco.schemas.DeadLetterReason;

/**
 * How a flat vector of {@code totalElements} is cut into chunks of {@code chunkElements} (the
 * last one shorter): the unit of publishing, summing and applying the outer step.
 */
public record ChunkPlan(long totalElements, int chunkElements) {

  /** 512 Ki elements: 1 MiB in FP16, 2 MiB in FP32. */
  public static final int DEFAULT_CHUNK_ELEMENTS = 512 * 1024;

  public ChunkPlan {
    if (totalElements < 1) {
      throw new IllegalArgumentException("totalElements must be >= 1, got " + totalElements);
    }
    if (chunkElements < 1) {
      throw new IllegalArgumentException("chunkElements must be >= 1, got " + chunkElements);
    }
    long chunks = (totalElements + chunkElements - 1) / chunkElements;
    if (chunks > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("totalElements " + totalElements + " in chunks of "
          + chunkElements + " makes " + chunks + " chunks, more than an int can index");
    }
  }

  public int chunkCount() {
    return (int) ((totalElements + chunkElements - 1) / chunkElements);
  }

  /** The elements of chunk {@code index}. */
  public ChunkRange range(int index) {
    if (index < 0 || index >= chunkCount()) {
      throw new ChunkRejectedException(DeadLetterReason.INDEX_OUT_OF_RANGE, "chunk index " + index
          + " is out of range: the vector has " + chunkCount() + " chunks (0.." + (chunkCount() - 1)
          + ")");
    }
    long offset = (long) index * chunkElements;
    return new ChunkRange(index, offset, (int) Math.min(chunkElements, totalElements - offset));
  }

  /** The chunk that holds element {@code element}. */
  public int chunkOf(long element) {
    if (element < 0 || element >= totalElements) {
      throw new IndexOutOfBoundsException("element " + element + " is outside the vector of "
          + totalElements + " elements");
    }
    return (int) (element / chunkElements);
  }

  /**
   * Checks a chunk header read from the wire against this plan, and returns the range it must
   * cover; throws with the reason when the header disagrees.
   */
  public ChunkRange check(int chunkIndex, int chunkCount, long elementOffset, int elementCount) {
    if (chunkCount != chunkCount()) {
      throw new ChunkRejectedException(DeadLetterReason.LAYOUT_MISMATCH, "the chunk says the vector "
          + "has " + chunkCount + " chunks, the layout says " + chunkCount());
    }
    ChunkRange range = range(chunkIndex);
    if (elementOffset != range.offset() || elementCount != range.count()) {
      throw new ChunkRejectedException(DeadLetterReason.WRONG_LENGTH, "chunk " + chunkIndex
          + " says it holds elements [" + elementOffset + ", " + (elementOffset + elementCount)
          + "), the layout says [" + range.offset() + ", " + range.end() + ")");
    }
    return range;
  }
}
