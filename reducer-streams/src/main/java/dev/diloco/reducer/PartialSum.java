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
 * A chunk's sum while its round is open: the exact sum so far, what each contributor brought
 * (tokens, steps, loss), and when the last one arrived. Kept in a state store between records.
 */
final class PartialSum {

  final TensorEncoding encoding;
  final ExactSum sum;
  final List<Contribution> contributions;

  PartialSum(TensorEncoding encoding, ExactSum sum, List<Contribution> contributions) {
    this.encoding = encoding;
    this.sum = sum;
    this.contributions = contributions;
  }

  static PartialSum empty(TensorEncoding encoding, int elementCount) {
    return new PartialSum(encoding, ExactSum.create(encoding, elementCount), new ArrayList<>());
  }

  /** Contributions in ascending worker-id order, as the reduced chunk lists them. */
  List<Contribution> sortedContributions() {
    List<Contribution> sorted = new ArrayList<>(contributions);
    sorted.sort(Comparator.comparing(Contribution::getWorkerId));
    return sorted;
  }

  byte[] toBytes() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeUTF(encoding.name());
      out.writeInt(sum.elementCount());
      out.writeInt(contributions.size());
      for (Contribution c : contributions) {
        out.writeUTF(c.getWorkerId());
        out.writeLong(c.getTokens());
        out.writeInt(c.getInnerSteps());
        out.writeFloat(c.getMeanInnerLoss());
      }
      byte[] state = sum.toBytes();
      out.writeInt(state.length);
      out.write(state);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  static PartialSum fromBytes(byte[] bytes) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      TensorEncoding encoding = TensorEncoding.valueOf(in.readUTF());
      int elements = in.readInt();
      int n = in.readInt();
      List<Contribution> contributions = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        contributions.add(new Contribution(in.readUTF(), in.readLong(), in.readInt(),
            in.readFloat()));
      }
      byte[] state = in.readNBytes(in.readInt());
      return new PartialSum(encoding, ExactSum.fromBytes(encoding, elements, state),
          contributions);
    } catch (IOException e) {
      throw new UncheckedIOException("a partial sum in the reducer's store is unreadable", e);
    }
  }
}
