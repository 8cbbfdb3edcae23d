package dev.diloco.reducer;

import dev.diloco.core.codec.Checksums;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.rules.CheckedChunk;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.ReducedChunk;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A chunk's sum while its round is open, held in memory: the exact sum so far and what each
 * contributor brought. What makes it durable is a {@link Pointer} per contribution in a state
 * store.
 */
final class PartialSum {

  final ExactSum sum;
  final List<Contribution> contributions = new ArrayList<>();
  /** Producer time of the newest contribution, for the latency of the sum. */
  long newestContributionMs;
  /** When the first contribution was added (the task's wall clock): the grace starts there. */
  long firstAddedAtMs = -1;

  PartialSum(CheckedChunk first) {
    this.sum = ExactSum.create(first.format().codec(), first.range().count());
  }

  /**
   * Adds a checked contribution at {@code nowMs}; a worker already in the sum is rejected as a
   * DUPLICATE.
   */
  void add(CheckedChunk c, long producedAtMs, long nowMs) {
    sum.add(c.chunk().getWorkerId(), c.canonical());
    contributions.add(new Contribution(c.chunk().getWorkerId(), c.chunk().getTokens(),
        c.chunk().getInnerSteps(), c.chunk().getMeanInnerLoss()));
    newestContributionMs = Math.max(newestContributionMs, producedAtMs);
    firstAddedAtMs = firstAddedAtMs < 0 ? nowMs : firstAddedAtMs;
  }

  /**
   * The sum as the record the optimizer reads, written through {@code buffer} (at least
   * {@code sum.maxSumBytes()}), with the contributors in ascending worker-id order.
   */
  ReducedChunk record(String runId, int round, ChunkRange range, int chunkCount,
      boolean complete, byte[] buffer, long now) {
    ByteBuffer bytes = ByteBuffer.wrap(buffer, 0, sum.writeSum(buffer, 0));
    List<Contribution> sorted = new ArrayList<>(contributions);
    sorted.sort(Comparator.comparing(Contribution::getWorkerId));
    return ReducedChunk.newBuilder()
        .setRunId(runId).setRound(round).setChunkIndex(range.index()).setChunkCount(chunkCount)
        .setElementOffset(range.offset()).setElementCount(range.count())
        .setContributors(sorted).setSumEncoding(sum.sumEncoding()).setSum(bytes)
        .setCrc32c(Checksums.crc32c(bytes)).setComplete(complete).setEmittedAtMs(now)
        .build();
  }

  /**
   * Where a contribution lies: partition and offset, and the worker whose own topic holds it
   * (null: the shared topic). 12 bytes for the shared topic, as before workers had topics.
   */
  record Pointer(String worker, int partition, long offset) {

    byte[] toBytes() {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(12);
      try (DataOutputStream out = new DataOutputStream(bytes)) {
        out.writeInt(partition);
        out.writeLong(offset);
        if (worker != null) {
          out.writeUTF(worker);
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return bytes.toByteArray();
    }

    static Pointer fromBytes(byte[] bytes) {
      try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
        int partition = in.readInt();
        long offset = in.readLong();
        return new Pointer(bytes.length > 12 ? in.readUTF() : null, partition, offset);
      } catch (IOException e) {
        throw new UncheckedIOException("a pointer in the reducer's store is unreadable", e);
      }
    }

    String topic(RunTopics topics) {
      return worker == null ? topics.pseudoGradients() : topics.workerPseudoGradients(worker);
    }
  }
}
