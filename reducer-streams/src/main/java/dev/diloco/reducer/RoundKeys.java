package dev.diloco.reducer;

/**
 * Keys of the reducer's stores, every one made here. Rounds are written zero-padded so that the
 * stores' byte order is round order, and everything of rounds before r is one range scan.
 */
final class RoundKeys {
  private RoundKeys() {}

  /** {@code round/chunk}: an open sum, or the mark that the chunk's sum was emitted. */
  static String chunk(int round, int chunkIndex) {
    return String.format("%010d/%010d", round, chunkIndex);
  }

  /** {@code round/chunk/worker}: one contribution to a sum, summed or waiting. */
  static String contribution(int round, int chunkIndex, String workerId) {
    return chunk(round, chunkIndex) + "/" + workerId;
  }

  /** The mark that {@code round}'s deadline has passed. */
  static String deadline(int round) {
    return roundStart(round) + "deadline";
  }

  /** {@code round/offset}: a commit of the run, in round order, then log order. */
  static String commit(int round, long offset) {
    return String.format("%010d/%019d", round, offset);
  }

  /** {@code round/worker}: a worker's membership of a round. */
  static String member(int round, String workerId) {
    return String.format("%010d/%s", round, workerId);
  }

  /**
   * The mark that {@code workerId} announces itself on its own topic: from then on the shared
   * membership topic, which any worker may write, no longer speaks for it. It sorts after
   * every round's keys, so no round's range scan sees it.
   */
  static String ownTopic(String workerId) {
    return "own/" + workerId;
  }

  /** The first key of {@code round}, for range scans. */
  static String roundStart(int round) {
    return String.format("%010d/", round);
  }

  /** The last key of {@code round}, for range scans ('0' follows '/'). */
  static String roundEnd(int round) {
    return String.format("%010d0", round);
  }

  static int roundOf(String key) {
    return Integer.parseInt(key.substring(0, 10));
  }

  static String afterSlash(String key) {
    return key.substring(11);
  }

  /** The key of {@code chunk}'s contribution: its round, chunk index and worker. */
  static String contribution(dev.diloco.schemas.PseudoGradientChunk chunk) {
    return contribution(chunk.getRound(), chunk.getChunkIndex(), chunk.getWorkerId());
  }
}
