package dev.diloco.worker.model;

import java.nio.FloatBuffer;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The output head and its cross-entropy, outside the graph: logits = h·Wᵀ for h [N, C] and the
 * head W [V, C] (its own, or the tied embedding; or h·W for the byte model's [C, V]), the mean
 * over N of −log softmax(logits)[next],
 * and the gradients of that mean in h and in W.
 *
 * <p>Why not in SameDiff: its product writes a row-major [N, V] result by a transposing copy
 * that costs 60 ns an element (measured, ND4J 1.0.0-M2.1: 2.4 s for N = 1,024 and GPT-2's
 * V = 50,257, where {@code Nd4j.gemm} into the same array takes 0.17 s), and its sparse
 * cross-entropy ignores the gradient flowing into it. Here each of the three products is one
 * BLAS call, and the softmax is one pass over each row in place.
 */
final class SoftmaxHead {
  private final int n;
  private final int v;
  /** Whether the head is [V, C] (PyTorch's Linear, a tied embedding) rather than [C, V]. */
  private final boolean vByC;

  /** Logits from which the rows' softmax is shared out to the common pool: 4 Mi. */
  private static final long PARALLEL_FROM = 1 << 22;
  /** Each thread's block of rows ({@link Softmax#rowsPerBlock}), not a new array a block. */
  private final ThreadLocal<float[]> block;

  private INDArray logits; // [N, V], reused: 206 MB at N = 1,024 and V = 50,257
  private INDArray headGradient; // [V, C] or [C, V], kept across steps as the logits are
  private INDArray hiddenGradient; // [N, C]

  SoftmaxHead(int rows, int vocab, boolean vByC) {
    this.n = rows;
    this.v = vocab;
    this.vByC = vByC;
    this.block = ThreadLocal.withInitial(() -> new float[Softmax.rowsPerBlock(vocab) * vocab]);
  }

  /** Logits [N, V] of {@code hidden} [N, C] under {@code head} [V, C]; valid until next call. */
  INDArray logits(INDArray hidden, INDArray head) {
    if (logits == null) {
      logits = Nd4j.create(DataType.FLOAT, n, v);
    }
    Blas.gemm(hidden, head, logits, false, vByC, 1f, 0f); // h · Wᵀ, or h · W
    return logits;
  }

  /** The mean cross-entropy of {@code targets} [N] under the logits of {@code hidden}. */
  float loss(INDArray hidden, INDArray head, int[] targets) {
    return rows(logits(hidden, head).data().asNioFloat(), targets, false);
  }

  /**
   * As {@link #loss}, and the mean's gradients, in {@link #hiddenGradient} and {@link
   * #headGradient} until the next call. The logits' gradient is (softmax − onehot) / N.
   */
  float lossAndGradient(INDArray hidden, INDArray head, int[] targets) {
    float loss = rows(logits(hidden, head).data().asNioFloat(), targets, true);
    if (headGradient == null) {
      headGradient = Nd4j.create(DataType.FLOAT, head.shape());
      hiddenGradient = Nd4j.create(DataType.FLOAT, n, hidden.size(1));
    }
    if (vByC) {
      Blas.gemm(logits, hidden, headGradient, true, false, 1f, 0f); // dLᵀ · h  [V, C]
    } else {
      Blas.gemm(hidden, logits, headGradient, true, false, 1f, 0f); // hᵀ · dL  [C, V]
    }
    Blas.gemm(logits, head, hiddenGradient, false, !vByC, 1f, 0f); // dL·W or dL·Wᵀ [N, C]
    return loss;
  }

  /** The head's gradient of the last {@link #lossAndGradient}. */
  INDArray headGradient() {
    return headGradient;
  }

  /** The hidden states' gradient of the last {@link #lossAndGradient}, [N, C]. */
  INDArray hiddenGradient() {
    return hiddenGradient;
  }

  /**
   * Each row's −log softmax at its target, summed in row order (the same bits however the rows
   * were shared out); with {@code gradient}, each row replaced by its gradient. Rows go to the
   * heap in blocks ({@link Softmax}): one pass over the logits, where ND4J's max, broadcast
   * subtract, exp, sum and broadcast divide took 6.7 ns an element (N = 1,024, V = 1,024).
   */
  private float rows(FloatBuffer l, int[] targets, boolean gradient) {
    double[] losses = new double[n];
    float scale = 1f / n;
    int per = Softmax.rowsPerBlock(v);
    IntStream blocks = IntStream.range(0, (n + per - 1) / per);
    // In parallel only where it pays: beside ND4J's own threads, which spin between ops, a
    // small head's rows went 4x slower on the common pool (tiny byte model, 2 cores).
    (n * (long) v >= PARALLEL_FROM ? blocks.parallel() : blocks).forEach(k -> {
      int first = k * per;
      int rows = Math.min(per, n - first);
      float[] block = this.block.get();
      double[] lse = new double[rows];
      float[] target = new float[rows];
      l.get(first * v, block, 0, rows * v);
      for (int r = 0; r < rows; r++) {
        target[r] = block[r * v + targets[first + r]];
      }
      Softmax.rows(block, rows, v, false, 0, scale, lse);
      for (int r = 0; r < rows; r++) {
        losses[first + r] = lse[r] - target[r];
      }
      if (gradient) {
        for (int r = 0; r < rows; r++) {
          block[r * v + targets[first + r]] -= scale;
        }
        l.put(first * v, block, 0, rows * v);
      }
    });
    double sum = 0;
    for (double loss : losses) {
      sum += loss;
    }
    return (float) (sum / n);
  }
}
