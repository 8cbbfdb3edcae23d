package dev.diloco.optimizer;

import dev.diloco.core.codec.Checksums;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.SumEncoding;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/** Sums as the reducer writes them, for run "r" in chunks of two of four elements. */
final class TestSums {
  private TestSums() {}

  /** The sum of {@code round}, chunk {@code index}, of {@code workers}, FP64 with its CRC. */
  static ReducedChunk fp64(int round, int index, List<String> workers, double... values) {
    ByteBuffer bytes = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (double v : values) {
      bytes.putDouble(v);
    }
    bytes.flip();
    return ReducedChunk.newBuilder()
        .setRunId("r").setRound(round).setChunkIndex(index).setChunkCount(2)
        .setElementOffset(2L * index).setElementCount(2)
        .setContributors(workers.stream().map(w -> new Contribution(w, 10L, 1, 2f)).toList())
        .setSumEncoding(SumEncoding.FP64).setSum(bytes)
        .setCrc32c(Checksums.crc32c(bytes.duplicate()))
        .setComplete(true).setEmittedAtMs(0)
        .build();
  }
}
