package dev.diloco.reducer;

import dev.diloco.core.sum.ExactSum;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.TensorEncoding;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
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

  PartialSum(TensorEncoding encoding, int elementCount) {
    this.sum = ExactSum.create(encoding, elementCount);
  }

  /** Contributions in ascending worker-id order, as the reduced chunk lists them. */
  List<Contribution> sortedContributions() {
    List<Contribution> sorted = new ArrayList<>(contributions);
    sorted.sort(Comparator.comparing(Contribution::getWorkerId));
    return sorted;
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

    String topic(dev.diloco.core.kafka.RunTopics topics) {
      return worker == null ? topics.pseudoGradients() : topics.workerPseudoGradients(worker);
    }
  }
}
