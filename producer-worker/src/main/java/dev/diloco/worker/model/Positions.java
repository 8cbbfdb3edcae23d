package dev.diloco.worker.model;

import java.nio.FloatBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Learned positions (GPT-2, the byte model): a table [P, C] whose row t is added at position t. */
final class Positions {
  private Positions() {}

  /** Row t of {@code table} [P, C] added to each window's position t of embedded [B*T, C]. */
  static void add(INDArray embedded, INDArray table, int t) {
    int c = (int) embedded.size(1);
    float[] wpe = Rows.values(table); // the first T rows are read
    FloatBuffer x = Rows.floats(embedded);
    float[] row = new float[c];
    for (int r = 0; r < embedded.size(0); r++) {
      x.get(r * c, row);
      int at = r % t * c;
      for (int j = 0; j < c; j++) {
        row[j] += wpe[at + j];
      }
      x.put(r * c, row);
    }
  }

  /** Row t of the table's gradient: the sum over windows of position t's; rows from T on, 0. */
  static void backward(INDArray dEmbedded, INDArray dTable, int t) {
    int c = (int) dEmbedded.size(1);
    float[] d = Rows.read(dEmbedded); // a whole array: one bulk copy
    float[] g = new float[(int) dTable.length()];
    for (int r = 0; r < d.length / c; r++) {
      int at = r % t * c;
      for (int j = 0; j < c; j++) {
        g[at + j] += d[r * c + j];
      }
    }
    dTable.assign(Nd4j.create(g, dTable.shape(), 'c'));
  }
}
