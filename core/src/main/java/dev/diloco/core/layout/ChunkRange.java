package dev.diloco.core.layout;

/** Chunk {@code index} covers elements {@code [offset, offset + count)} of the flat vector. */
public record ChunkRange(int index, long offset, int count) {
  public ChunkRange {
    if (index < 0) {
      throw new IllegalArgumentException("chunk index must be >= 0, got " + index);
    }
    if (offset < 0) {
      throw new IllegalArgumentException("chunk offset must be >= 0, got " + offset);
    }
    if (count < 1) {
      throw new IllegalArgumentException("chunk element count must be >= 1, got " + count);
    }
  }

  /** One past the last element. */
  public long end() {
    return offset + count;
  }
}
