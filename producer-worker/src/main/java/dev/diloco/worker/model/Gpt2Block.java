package dev.diloco.worker.model;

import dev.diloco.worker.ModelConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * One block of {@link Gpt2} (and of {@link ByteGpt}), forward and backward: x + proj(attention(
 * qkv(ln_1(x)))), then + out(f(fc(ln_2 of that))), weights [in, out]: GPT-2's q, k and v are
 * one product with a bias (c_attn), the byte model's three without, and its proj has no bias.
 * Its weights and their gradients are views of the model's flat vectors. Holds what its
 * backward pass reads.
 */
final class Gpt2Block implements Architecture.Block {
  private final String activation;
  private final Linear[] qkvParts; // one [C, 3C] (GPT-2), or q, k, v [C, C] each
  private final Linear proj; // [C, C]
  private final Linear fc; // [C, M]
  private final Linear out; // [M, C]
  private final Norm ln1;
  private final Norm ln2;
  private final CausalAttention attention;
  private final Scratch s;
  private final INDArray a; // [N, C]: ln_1(x)
  private final INDArray qkv; // [N, 3C]
  private final INDArray parts; // [3, N, C]: q, k and v apart, when they are three products
  private final INDArray heads; // [N, C]: attention's output, merged
  private final INDArray mid; // [N, C]: x + attention
  private final INDArray n; // [N, C]: ln_2(mid)
  private final INDArray pre; // [N, M]: before the activation
  private final INDArray act; // [N, M]

  /** The block's tensors: norms by prefix (.weight, .bias); a bias null where there is none. */
  record Names(String ln1, String[] qkv, String qkvBias, String proj, String projBias,
      String ln2, String fc, String fcBias, String out, String outBias) {}

  /** Arrays the backward passes of all blocks share. */
  record Scratch(INDArray dM, INDArray dC, INDArray dHeads, INDArray dQkv, INDArray ones,
      CausalAttention.Scratch attention) {
    static Scratch of(ModelConfig cfg, int batch) {
      int rows = batch * cfg.contextLength();
      int c = cfg.dModel();
      return new Scratch(Nd4j.create(DataType.FLOAT, rows, cfg.mlpHidden()),
          Nd4j.create(DataType.FLOAT, rows, c), Nd4j.create(DataType.FLOAT, rows, c),
          Nd4j.create(DataType.FLOAT, rows, 3 * c), Nd4j.ones(DataType.FLOAT, 1, rows),
          CausalAttention.Scratch.of(cfg, batch));
    }
  }

  /**
   * A product x·W (+ b) of GPT-2's Conv1D, W [in, out], with its gradients' views (the bias's
   * [1, out]).
   */
  private record Linear(INDArray w, INDArray b, INDArray dW, INDArray dB) {
    static Linear of(String weight, String bias, Architecture.Views weights,
        Architecture.Views gradients) {
      INDArray dB = bias == null ? null : gradients.of(bias);
      return new Linear(weights.of(weight), bias == null ? null : weights.of(bias),
          gradients.of(weight), dB == null ? null : dB.reshape(1, dB.length()));
    }

    /** y = x·W + b, or y += x·W + b. */
    void forward(INDArray x, INDArray y, boolean add) {
      if (b != null) { // by rows here: ND4J's broadcast add costs more than the product
        Rows.biasRows(y, b.toFloatVector(), add);
      }
      Blas.gemm(x, w, y, false, false, 1f, add || b != null ? 1f : 0f);
    }

    /**
     * dW = xᵀ·dy, db = Σ rows of dy (1ᵀ·dy, a product: ND4J's column sum was 5% of the tiny
     * model's step), and dx = dy·Wᵀ, or dx += dy·Wᵀ.
     */
    void backward(INDArray x, INDArray dy, INDArray dx, boolean add, INDArray ones) {
      Blas.gemm(x, dy, dW, true, false, 1f, 0f);
      if (b != null) {
        Blas.gemm(ones, dy, dB, false, false, 1f, 0f);
      }
      Blas.gemm(dy, w, dx, false, true, 1f, add ? 1f : 0f);
    }
  }

  Gpt2Block(ModelConfig cfg, int batch, Names names, Architecture.Views weights,
      Architecture.Views gradients, Scratch s) {
    activation = cfg.activation();
    qkvParts = new Linear[names.qkv().length];
    for (int i = 0; i < qkvParts.length; i++) {
      qkvParts[i] = Linear.of(names.qkv()[i], names.qkvBias(), weights, gradients);
    }
    proj = Linear.of(names.proj(), names.projBias(), weights, gradients);
    fc = Linear.of(names.fc(), names.fcBias(), weights, gradients);
    out = Linear.of(names.out(), names.outBias(), weights, gradients);
    int rows = batch * cfg.contextLength();
    ln1 = norm(names.ln1(), weights, gradients, cfg.normEps(), rows);
    ln2 = norm(names.ln2(), weights, gradients, cfg.normEps(), rows);
    attention = new CausalAttention(cfg, batch, null);
    this.s = s;
    int c = cfg.dModel();
    a = Nd4j.create(DataType.FLOAT, rows, c);
    qkv = Nd4j.create(DataType.FLOAT, rows, 3 * c);
    parts = qkvParts.length == 1 ? null : Nd4j.create(DataType.FLOAT, 3, rows, c);
    heads = Nd4j.create(DataType.FLOAT, rows, c);
    mid = Nd4j.create(DataType.FLOAT, rows, c);
    n = Nd4j.create(DataType.FLOAT, rows, c);
    pre = Nd4j.create(DataType.FLOAT, rows, cfg.mlpHidden());
    act = Nd4j.create(DataType.FLOAT, rows, cfg.mlpHidden());
  }

  private static Norm norm(String name, Architecture.Views weights,
      Architecture.Views gradients, double eps, int rows) {
    return new Norm.Layer(weights.of(name + ".weight"), weights.of(name + ".bias"),
        gradients.of(name + ".weight"), gradients.of(name + ".bias"), eps, rows);
  }

  @Override
  public void forward(INDArray x, INDArray y) {
    ln1.forward(x, a);
    if (parts == null) {
      qkvParts[0].forward(a, qkv, false); // [N, 3C]
    } else {
      for (int i = 0; i < 3; i++) {
        qkvParts[i].forward(a, part(parts, i), false); // [N, C]
      }
      Rows.interleave(parts, qkv); // [N, 3C]
    }
    attention.forward(qkv, heads);
    mid.assign(x);
    proj.forward(heads, mid, true); // x + c_proj(heads)
    ln2.forward(mid, n);
    fc.forward(n, pre, false); // [N, M]
    Activations.forward(activation, pre, act);
    y.assign(mid);
    out.forward(act, y, true); // mid + c_proj(act)
  }

  @Override
  public void backward(INDArray dx) {
    out.backward(act, dx, s.dM(), false, s.ones()); // d act [N, M]
    Activations.backward(activation, pre, s.dM(), s.dM()); // d pre
    fc.backward(n, s.dM(), s.dC(), false, s.ones()); // d n [N, C]
    ln2.backward(s.dC(), dx); // dx: d mid
    proj.backward(heads, dx, s.dHeads(), false, s.ones());
    attention.backward(s.dHeads(), s.dQkv(), s.attention());
    if (parts == null) {
      qkvParts[0].backward(a, s.dQkv(), s.dC(), false, s.ones()); // d a [N, C]
    } else {
      Rows.deinterleave(s.dQkv(), parts); // [3, N, C]: d q, d k, d v
      for (int i = 0; i < 3; i++) {
        qkvParts[i].backward(a, part(parts, i), s.dC(), i > 0, s.ones());
      }
    }
    ln1.backward(s.dC(), dx); // dx: d x
  }

  /** Part i [N, C] of [3, N, C]: a whole array's contiguous view. */
  private static INDArray part(INDArray parts, int i) {
    return parts.get(NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.all());
  }
}
