package dev.diloco.worker.model;

import dev.diloco.worker.ModelConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One block of {@link Gpt2}, forward and backward: x + c_proj(attention(c_attn(ln_1(x)))), then
 * + mlp.c_proj(f(mlp.c_fc(ln_2 of that))), every product with its bias, weights [in, out]. Its
 * weights and their gradients are views of the model's flat vectors. Holds what its backward
 * pass reads.
 */
final class Gpt2Block implements Architecture.Block {
  private final String activation;
  private final Linear attn; // [C, 3C]
  private final Linear proj; // [C, C]
  private final Linear fc; // [C, M]
  private final Linear out; // [M, C]
  private final Norm ln1;
  private final Norm ln2;
  private final CausalAttention attention;
  private final Scratch s;
  private final INDArray a; // [N, C]: ln_1(x)
  private final INDArray qkv; // [N, 3C]
  private final INDArray heads; // [N, C]: attention's output, merged
  private final INDArray mid; // [N, C]: x + attention
  private final INDArray n; // [N, C]: ln_2(mid)
  private final INDArray pre; // [N, M]: before the activation
  private final INDArray act; // [N, M]

  /** Arrays the backward passes of all blocks share. */
  record Scratch(INDArray dM, INDArray dC, INDArray dHeads, INDArray dQkv,
      CausalAttention.Scratch attention) {
    static Scratch of(ModelConfig cfg, int batch) {
      int rows = batch * cfg.contextLength();
      int c = cfg.dModel();
      return new Scratch(Nd4j.create(DataType.FLOAT, rows, cfg.mlpHidden()),
          Nd4j.create(DataType.FLOAT, rows, c), Nd4j.create(DataType.FLOAT, rows, c),
          Nd4j.create(DataType.FLOAT, rows, 3 * c), CausalAttention.Scratch.of(cfg, batch));
    }
  }

  /** A product x·W + b of GPT-2's Conv1D, W [in, out], with its gradients' views. */
  private record Linear(INDArray w, INDArray b, INDArray dW, INDArray dB) {
    static Linear of(String name, Architecture.Views weights, Architecture.Views gradients) {
      return new Linear(weights.of(name + ".weight"), weights.of(name + ".bias"),
          gradients.of(name + ".weight"), gradients.of(name + ".bias"));
    }

    /** y = x·W + b, or y += x·W + b. */
    void forward(INDArray x, INDArray y, boolean add) {
      if (add) {
        y.addiRowVector(b);
      } else {
        Rows.fillRows(y, b.toFloatVector());
      }
      Nd4j.gemm(x, w, y, false, false, 1.0, 1.0);
    }

    /** dW = xᵀ·dy, db = Σ rows of dy, and dx = dy·Wᵀ (when dx is not null). */
    void backward(INDArray x, INDArray dy, INDArray dx) {
      Nd4j.gemm(x, dy, dW, true, false, 1.0, 0.0);
      dB.assign(dy.sum(0));
      if (dx != null) {
        Nd4j.gemm(dy, w, dx, false, true, 1.0, 0.0);
      }
    }
  }

  Gpt2Block(ModelConfig cfg, int batch, int l, Architecture.Views weights,
      Architecture.Views gradients, Scratch s) {
    String p = "transformer.h." + l + ".";
    activation = cfg.activation();
    attn = Linear.of(p + "attn.c_attn", weights, gradients);
    proj = Linear.of(p + "attn.c_proj", weights, gradients);
    fc = Linear.of(p + "mlp.c_fc", weights, gradients);
    out = Linear.of(p + "mlp.c_proj", weights, gradients);
    int rows = batch * cfg.contextLength();
    ln1 = new Norm.Layer(weights.of(p + "ln_1.weight"), weights.of(p + "ln_1.bias"),
        gradients.of(p + "ln_1.weight"), gradients.of(p + "ln_1.bias"), cfg.normEps(), rows);
    ln2 = new Norm.Layer(weights.of(p + "ln_2.weight"), weights.of(p + "ln_2.bias"),
        gradients.of(p + "ln_2.weight"), gradients.of(p + "ln_2.bias"), cfg.normEps(), rows);
    attention = new CausalAttention(cfg, batch, null);
    this.s = s;
    int c = cfg.dModel();
    a = Nd4j.create(DataType.FLOAT, rows, c);
    qkv = Nd4j.create(DataType.FLOAT, rows, 3 * c);
    heads = Nd4j.create(DataType.FLOAT, rows, c);
    mid = Nd4j.create(DataType.FLOAT, rows, c);
    n = Nd4j.create(DataType.FLOAT, rows, c);
    pre = Nd4j.create(DataType.FLOAT, rows, cfg.mlpHidden());
    act = Nd4j.create(DataType.FLOAT, rows, cfg.mlpHidden());
  }

  @Override
  public void forward(INDArray x, INDArray y) {
    ln1.forward(x, a);
    attn.forward(a, qkv, false); // [N, 3C]
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
    out.backward(act, dx, s.dM()); // d act [N, M]
    Activations.backward(activation, pre, s.dM(), s.dM()); // d pre
    fc.backward(n, s.dM(), s.dC()); // d n [N, C]
    ln2.backward(s.dC(), dx); // dx: d mid
    proj.backward(heads, dx, s.dHeads());
    attention.backward(s.dHeads(), s.dQkv(), s.attention());
    attn.backward(a, s.dQkv(), s.dC()); // d a [N, C]
    ln1.backward(s.dC(), dx); // dx: d x
  }
}
