package dev.diloco.reducer;

import java.nio.ByteBuffer;

/**
 * Keys of the reducer's stores. Rounds are written zero-padded so that the stores' byte order
 * is round order, and everything of rounds before r is one range scan.
 */
final class RoundKeys {
  private RoundKeys() {}

  /** {@code round/chunk}: a partial sum, or the mark that the chunk's sum was emitted. */
  static String chunk(int round, int chunkIndex) {
    return String.format("%010d/%010d", round, chunkIndex);
  }

  /** {@code round/worker}: a worker's membership of a round. */
  static String member(int round, String workerId) {
    return String.format("%010d/%s", round, workerId);
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

  /** The record key of chunk {@code index}: 4 bytes, big-endian, as the workers write it. */
  static byte[] chunkRecordKey(int index) {
    return ByteBuffer.allocate(4).putInt(index).array();
  }
}
