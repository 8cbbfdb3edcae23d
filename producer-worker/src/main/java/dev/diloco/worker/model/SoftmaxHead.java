package dev.diloco.worker.model;

import java.nio.FloatBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

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
 * BLAS call, and the softmax is done in place by vectorised ops.
 */
final class SoftmaxHead {
  private final int n;
  private final int v;
  /** Whether the head is [V, C] (PyTorch's Linear, a tied embedding) rather than [C, V]. */
  private final boolean vByC;

  private INDArray logits; // [N, V], reused: 206 MB at N = 1,024 and V = 50,257
  private INDArray headGradient; // [V, C] or [C, V], kept across steps as the logits are
  private INDArray hiddenGradient; // [N, C]

  SoftmaxHead(int rows, int vocab, boolean vByC) {
    this.n = rows;
    this.v = vocab;
    this.vByC = vByC;
  }

  /** Logits [N, V] of {@code hidden} [N, C] under {@code head} [V, C]; valid until next call. */
  INDArray logits(INDArray hidden, INDArray head) {
    if (logits == null) {
      logits = Nd4j.create(DataType.FLOAT, n, v);
    }
    Nd4j.gemm(hidden, head, logits, false, vByC, 1.0, 0.0); // h · Wᵀ, or h · W
    return logits;
  }

  /** The mean cross-entropy of {@code targets} [N] under the logits of {@code hidden}. */
  float loss(INDArray hidden, INDArray head, int[] targets) {
    return rows(logits(hidden, head), targets, false);
  }

  /**
   * As {@link #loss}, and the mean's gradients, in {@link #hiddenGradient} and {@link
   * #headGradient} until the next call. The logits' gradient is (softmax − onehot) / N.
   */
  float lossAndGradient(INDArray hidden, INDArray head, int[] targets) {
    float loss = rows(logits(hidden, head), targets, true);
    if (headGradient == null) {
      headGradient = Nd4j.create(DataType.FLOAT, head.shape());
      hiddenGradient = Nd4j.create(DataType.FLOAT, n, hidden.size(1));
    }
    if (vByC) {
      Nd4j.gemm(logits, hidden, headGradient, true, false, 1.0, 0.0); // dLᵀ · h  [V, C]
    } else {
      Nd4j.gemm(hidden, logits, headGradient, true, false, 1.0, 0.0); // hᵀ · dL  [C, V]
    }
    Nd4j.gemm(logits, head, hiddenGradient, false, !vByC, 1.0, 0.0); // dL·W or dL·Wᵀ [N, C]
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
   * Each row's −log softmax at its target, max + log Σ exp(l − max) − l[target], summed in row
   * order in double; with {@code gradient}, the logits replaced by their gradient. The
   * exponentials and the rows' sums are ND4J's vectorised ops (Math.exp took 10-17 ns an
   * element here, most of a small model's step).
   */
  private float rows(INDArray l, int[] targets, boolean gradient) {
    FloatBuffer b = l.data().asNioFloat();
    float[] target = new float[n];
    for (int r = 0; r < n; r++) {
      target[r] = b.get(r * v + targets[r]);
    }
    INDArray max = l.max(1).reshape(n, 1); // [N, 1]
    l.subiColumnVector(max);
    Transforms.exp(l, false);
    INDArray sum = l.sum(1).reshape(n, 1); // [N, 1]
    float[] m = max.toFloatVector();
    float[] z = sum.toFloatVector();
    double total = 0;
    for (int r = 0; r < n; r++) {
      total += m[r] + Math.log(z[r]) - target[r];
    }
    if (gradient) { // (softmax − onehot) / N
      l.diviColumnVector(sum.muli(n));
      for (int r = 0; r < n; r++) {
        int at = r * v + targets[r];
        b.put(at, b.get(at) - 1f / n);
      }
    }
    return (float) (total / n);
  }
}
