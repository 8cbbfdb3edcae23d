package dev.diloco.tokens;

import java.util.List;

/**
 * Tokens by position: what a worker draws its training windows from, whether they are the bytes
 * of a text in memory or token shards mapped from disk, one after another. Views (a slice, a
 * worker's blocks) copy nothing.
 */
public interface Tokens {

  /** Tokens held. */
  long size();

  /** Token {@code i}, {@code 0 <= i < size()}. */
  int get(long i);

  /** Bytes as tokens 0 to 255 (held, not copied: do not change the array). */
  static Tokens of(byte[] bytes) {
    return new Tokens() {
      @Override
      public long size() {
        return bytes.length;
      }

      @Override
      public int get(long i) {
        return bytes[(int) i] & 0xff;
      }
    };
  }

  /** The shards end to end, in order. */
  static Tokens of(List<TokenShard> shards) {
    long[] starts = new long[shards.size() + 1];
    for (int s = 0; s < shards.size(); s++) {
      starts[s + 1] = starts[s] + shards.get(s).size();
    }
    TokenShard[] all = shards.toArray(TokenShard[]::new);
    return new Tokens() {
      @Override
      public long size() {
        return starts[all.length];
      }

      @Override
      public int get(long i) {
        int s = java.util.Arrays.binarySearch(starts, i);
        s = s >= 0 ? s : -s - 2; // the shard whose start is the last at or before i
        while (s < all.length - 1 && starts[s + 1] == i) {
          s++; // past empty shards (none are allowed, but a view must not depend on it)
        }
        return all[s].token(i - starts[s]);
      }
    };
  }

  /** Tokens {@code from} (inclusive) to {@code to} (exclusive) of these. */
  default Tokens slice(long from, long to) {
    if (from < 0 || to > size() || from > to) {
      throw new IllegalArgumentException("no slice [" + from + ", " + to + ") of " + size()
          + " tokens");
    }
    Tokens whole = this;
    return new Tokens() {
      @Override
      public long size() {
        return to - from;
      }

      @Override
      public int get(long i) {
        return whole.get(from + i);
      }
    };
  }

  /**
   * Worker {@code worker}'s part of {@code workers}: the blocks of {@code block} tokens whose
   * index is {@code worker} modulo {@code workers}, end to end (so every worker sees every part
   * of the data), or, {@code contiguous}, the {@code worker}-th of {@code workers} equal regions
   * (non-iid: different documents for each). Disjoint for different workers.
   */
  default Tokens part(int worker, int workers, int block, boolean contiguous) {
    if (workers < 1 || worker < 0 || worker >= workers) {
      throw new IllegalArgumentException("shard " + worker + " of " + workers + " does not exist");
    }
    long n = size();
    if (contiguous) {
      long each = n / workers;
      return slice(worker * each, (worker + 1) * each);
    }
    long rounds = n / ((long) block * workers); // whole turns of the deal
    long rest = n - rounds * block * workers; // the last turn, dealt block by block
    long extra = Math.min(block, Math.max(0, rest - (long) worker * block));
    long size = rounds * block + extra;
    Tokens whole = this;
    return new Tokens() {
      @Override
      public long size() {
        return size;
      }

      @Override
      public int get(long i) {
        long turn = i / block;
        return whole.get((turn * workers + worker) * block + i % block);
      }
    };
  }
}
