package dev.diloco.worker.model;

import dev.diloco.worker.ModelConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One decoder layer of {@link Llama}, forward and backward: x + o_proj(attention(rope(qkv(
 * RMSNorm(x))))), then + down(silu(gate(n))·up(n)) with n = RMSNorm of that. Its weights and
 * their gradients are views of the model's flat vectors; q, k and v are adjacent there, and so
 * are gate and up, so each pair or triple is one product. Holds what its backward pass reads.
 */
final class LlamaBlock implements Architecture.Block {
  private final INDArray wQkv; // [(H+2KV)·hd, C]
  private final INDArray wO; // [C, H·hd]
  private final INDArray wGateUp; // [2M, C]
  private final INDArray wDown; // [C, M]
  private final INDArray dQkv; // each weight's gradient, the same shapes
  private final INDArray dO;
  private final INDArray dGateUp;
  private final INDArray dDown;
  private final CausalAttention attention;
  private final Norm norm1;
  private final Norm norm2;
  private final Scratch s;
  private final INDArray a; // [N, C]: RMSNorm of x
  private final INDArray qkv; // [N, (H+2KV)·hd]
  private final INDArray heads; // [N, H·hd]: attention's output, merged
  private final INDArray mid; // [N, C]: x + attention
  private final INDArray n; // [N, C]: RMSNorm of mid
  // The MLP's activations are feature-major, [M, N]: gate and up are then two whole arrays
  // (the rows of one product), each row a long run of elements.
  private final INDArray gateUp; // [2M, N]
  private final INDArray hidden; // [M, N]: silu(gate)·up

  /** Arrays the backward passes of all blocks share. */
  record Scratch(INDArray dHidden, INDArray dGateUp, INDArray dC, INDArray dHeads,
      INDArray dQkv, CausalAttention.Scratch attention) {
    static Scratch of(ModelConfig cfg, int batch) {
      int rows = batch * cfg.contextLength();
      int m = cfg.mlpHidden();
      int hd = cfg.headDim();
      return new Scratch(Nd4j.create(DataType.FLOAT, m, rows),
          Nd4j.create(DataType.FLOAT, 2 * m, rows),
          Nd4j.create(DataType.FLOAT, rows, cfg.dModel()),
          Nd4j.create(DataType.FLOAT, rows, cfg.heads() * hd),
          Nd4j.create(DataType.FLOAT, rows, (cfg.heads() + 2 * cfg.kvHeads()) * hd),
          CausalAttention.Scratch.of(cfg, batch));
    }
  }

  /** Layer {@code l} over views of the weights and gradients; {@code s} shared by all. */
  LlamaBlock(ModelConfig cfg, int batch, int l, Architecture.Views weights,
      Architecture.Views gradients, float[][] rope, Scratch s) {
    String p = "model.layers." + l + ".";
    wQkv = weights.of(p + "self_attn.q_proj.weight", 3); // q, k, v: adjacent in the layout
    dQkv = gradients.of(p + "self_attn.q_proj.weight", 3);
    wO = weights.of(p + "self_attn.o_proj.weight");
    dO = gradients.of(p + "self_attn.o_proj.weight");
    wGateUp = weights.of(p + "mlp.gate_proj.weight", 2); // gate, up: adjacent
    dGateUp = gradients.of(p + "mlp.gate_proj.weight", 2);
    wDown = weights.of(p + "mlp.down_proj.weight");
    dDown = gradients.of(p + "mlp.down_proj.weight");
    int rows = batch * cfg.contextLength();
    norm1 = new Norm.Rms(weights.of(p + "input_layernorm.weight"),
        gradients.of(p + "input_layernorm.weight"), cfg.normEps(), rows);
    norm2 = new Norm.Rms(weights.of(p + "post_attention_layernorm.weight"),
        gradients.of(p + "post_attention_layernorm.weight"), cfg.normEps(), rows);
    attention = new CausalAttention(cfg, batch, rope);
    this.s = s;
    int c = cfg.dModel();
    int m = cfg.mlpHidden();
    a = Nd4j.create(DataType.FLOAT, rows, c);
    qkv = Nd4j.create(DataType.FLOAT, rows, wQkv.size(0));
    heads = Nd4j.create(DataType.FLOAT, rows, wO.size(1));
    mid = Nd4j.create(DataType.FLOAT, rows, c);
    n = Nd4j.create(DataType.FLOAT, rows, c);
    gateUp = Nd4j.create(DataType.FLOAT, 2 * m, rows);
    hidden = Nd4j.create(DataType.FLOAT, m, rows);
  }

  @Override
  public void forward(INDArray x, INDArray out) {
    norm1.forward(x, a);
    Blas.gemm(a, wQkv, qkv, false, true, 1f, 0f); // [N, (H+2KV)·hd]
    attention.forward(qkv, heads);
    mid.assign(x);
    Blas.gemm(heads, wO, mid, false, true, 1f, 1f); // x + o_proj(heads)
    norm2.forward(mid, n);
    Blas.gemm(wGateUp, n, gateUp, false, true, 1f, 0f); // [2M, N]
    Rows.swiGlu(gateUp, hidden);
    out.assign(mid);
    Blas.gemm(hidden, wDown, out, true, true, 1f, 1f); // mid + down(hidden)
  }

  @Override
  public void backward(INDArray dx) {
    Blas.gemm(dx, hidden, dDown, true, true, 1f, 0f); // [C, M]
    Blas.gemm(wDown, dx, s.dHidden(), true, true, 1f, 0f); // [M, N]
    Rows.swiGluBackward(gateUp, s.dHidden(), s.dGateUp());
    Blas.gemm(s.dGateUp(), n, dGateUp, false, false, 1f, 0f); // [2M, C]
    Blas.gemm(s.dGateUp(), wGateUp, s.dC(), true, false, 1f, 0f); // d n [N, C]
    norm2.backward(s.dC(), dx); // dx: d mid
    Blas.gemm(dx, heads, dO, true, false, 1f, 0f); // [C, H·hd]
    Blas.gemm(dx, wO, s.dHeads(), false, false, 1f, 0f); // [N, H·hd]
    attention.backward(s.dHeads(), s.dQkv(), s.attention());
    Blas.gemm(s.dQkv(), a, dQkv, true, false, 1f, 0f); // [(H+2KV)·hd, C]
    Blas.gemm(s.dQkv(), wQkv, s.dC(), false, false, 1f, 0f); // d a [N, C]
    norm1.backward(s.dC(), dx); // dx: d x
  }
}
