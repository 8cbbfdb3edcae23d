package dev.diloco.core.log;

/**
 * A committed round whose records do not check out: a chunk missing or failing its CRC, or the
 * weights not matching the SHA-256 in the round's commit. Names the round and, where one is to
 * blame, the chunk. Nothing is trained or stepped on such a round.
 */
public class CorruptRoundException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  private final int round;
  private final int chunkIndex;

  public CorruptRoundException(int round, int chunkIndex, String detail) {
    super("round " + round + (chunkIndex >= 0 ? ", chunk " + chunkIndex : "") + ": " + detail);
    this.round = round;
    this.chunkIndex = chunkIndex;
  }

  public int round() {
    return round;
  }

  /** The chunk to blame, or -1 when the round as a whole does not check out. */
  public int chunkIndex() {
    return chunkIndex;
  }
}
