package dev.diloco.worker.model;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.worker.ModelConfig;
import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What every model does at its two ends, whatever computes its blocks: the windows' tokens
 * checked and split into inputs and targets, and the gradients of the embedding table (the
 * gather's, scattered back into the table's rows) and of the head placed in the flat vector.
 */
final class Ends {
  private final ModelConfig config;
  private final int batch;
  private final int tableAt;
  private final int headAt; // the table's offset when the head is tied to it

  Ends(ModelConfig config, int batch, ParameterLayout layout, String table, String head) {
    this.config = config;
    this.batch = batch;
    this.tableAt = Math.toIntExact(layout.tensor(table).offset());
    this.headAt = Math.toIntExact(layout.tensor(head).offset());
  }

  /** The input tokens of {@code windows}, [B*T], each checked against the vocabulary. */
  int[] inputs(int[][] windows) {
    int t = config.contextLength();
    if (windows.length != batch) {
      throw new IllegalArgumentException("the model takes batches of " + batch + " windows, got "
          + windows.length);
    }
    int[] in = new int[batch * t];
    for (int b = 0; b < batch; b++) {
      if (windows[b].length != t + 1) {
        throw new IllegalArgumentException("a window must hold " + (t + 1) + " tokens, got "
            + windows[b].length);
      }
      for (int token : windows[b]) {
        if (token < 0 || token >= config.vocab()) {
          throw new IllegalArgumentException("token " + token + " is not in the model's "
              + "vocabulary of " + config.vocab());
        }
      }
      System.arraycopy(windows[b], 0, in, b * t, t);
    }
    return in;
  }

  /** The next token of each input [B*T]: the labels. */
  int[] targets(int[][] windows) {
    int t = config.contextLength();
    int[] next = new int[batch * t];
    for (int b = 0; b < batch; b++) {
      System.arraycopy(windows[b], 1, next, b * t, t);
    }
    return next;
  }

  /**
   * Writes the table's and the head's parts of {@code gradient}: the head's gradient (into the
   * table's when tied), then each input's row of {@code dEmbedded} [B*T, C] added to its
   * token's row of the table.
   */
  void tableAndHead(float[] gradient, int[] inputs, INDArray headGradient, INDArray dEmbedded) {
    int c = config.dModel();
    Arrays.fill(gradient, tableAt, tableAt + config.vocab() * c, 0f);
    float[] g = headGradient.data().asFloat();
    if (headAt != tableAt) {
      System.arraycopy(g, 0, gradient, headAt, g.length);
    } else {
      for (int i = 0; i < g.length; i++) {
        gradient[headAt + i] += g[i];
      }
    }
    float[] dx = dEmbedded.data().asFloat(); // [B*T, C]
    for (int r = 0; r < inputs.length; r++) {
      int row = tableAt + inputs[r] * c;
      for (int j = 0; j < c; j++) {
        gradient[row + j] += dx[r * c + j];
      }
    }
  }
}
