package dev.diloco.core.log;

import dev.diloco.core.codec.Checksums;
import dev.diloco.core.rules.PublishedChunks.Slice;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The chunks of one round's vector as its partition holds them, by index, in log order: each
 * one that passed its own checks. A round's weights are the optimizer's chunks, written in one
 * transaction from the commit's offset on, but whoever may write the topic can put a
 * well-formed chunk of the same round among them; the commit's SHA-256 says which choice is the
 * round's ({@link #matching}). Refused chunks are kept as the reason an index has none.
 */
final class ChunkCandidates {

  /** The most choices of one chunk per index that {@link #matching} hashes. */
  static final int MAX_CHOICES = 256;

  record Candidate(long offset, Slice slice) {}

  private final List<List<Candidate>> byIndex = new ArrayList<>();
  private final String[] refused;
  private int indexesFound;

  ChunkCandidates(int chunkCount) {
    for (int i = 0; i < chunkCount; i++) {
      byIndex.add(new ArrayList<>(1));
    }
    this.refused = new String[chunkCount];
  }

  void add(int index, long offset, Slice slice) {
    if (byIndex.get(index).isEmpty()) {
      indexesFound++;
    }
    byIndex.get(index).add(new Candidate(offset, slice));
  }

  boolean has(int index) {
    return !byIndex.get(index).isEmpty();
  }

  /** Why a chunk of {@code index} was refused, the first time one was. */
  void refuse(int index, String why) {
    if (refused[index] == null) {
      refused[index] = why;
    }
  }

  /** The first index with no chunk, or -1 when every index has one. */
  int missing() {
    if (indexesFound == byIndex.size()) {
      return -1;
    }
    for (int i = 0; ; i++) {
      if (byIndex.get(i).isEmpty()) {
        return i;
      }
    }
  }

  /** Why {@code index} has no chunk: its refusal, if one was refused. */
  String refusal(int index) {
    return refused[index];
  }

  /** The vector of {@code n} elements from the first chunk of each index. */
  float[] first(int n) {
    float[] v = new float[n];
    fill(v, new int[byIndex.size()]);
    return v;
  }

  /**
   * The first choice of one chunk per index, in log order (the last index varying fastest),
   * whose vector's SHA-256 is {@code sha}, among the first {@link #MAX_CHOICES}; null if none.
   * Every index must have a chunk.
   */
  float[] matching(int n, byte[] sha) {
    int[] choice = new int[byIndex.size()];
    float[] v = new float[n]; // one buffer for every choice: the chunks cover every element
    for (int tried = 0; tried < MAX_CHOICES; tried++) {
      fill(v, choice);
      if (Arrays.equals(Checksums.sha256(v), sha)) {
        return v;
      }
      int i = choice.length - 1;
      while (i >= 0 && ++choice[i] == byIndex.get(i).size()) {
        choice[i--] = 0;
      }
      if (i < 0) {
        return null;
      }
    }
    return null;
  }

  /** The offsets of the chunks not in the vector {@link #matching} chose last. */
  List<Long> others(float[] chosen) {
    List<Long> left = new ArrayList<>();
    for (List<Candidate> index : byIndex) {
      for (Candidate c : index) {
        float[] mine = Arrays.copyOfRange(chosen, Math.toIntExact(c.slice().range().offset()),
            Math.toIntExact(c.slice().range().offset()) + c.slice().range().count());
        if (!Arrays.equals(mine, c.slice().values())) {
          left.add(c.offset());
        }
      }
    }
    return left;
  }

  private void fill(float[] v, int[] choice) {
    for (int i = 0; i < choice.length; i++) {
      byIndex.get(i).get(choice[i]).slice().copyInto(v);
    }
  }
}
