package dev.diloco.worker.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link Llama} as a SameDiff graph, for ND4J backends other than the CPU's (the {@code -Pcuda}
 * build), where {@link Transformer}'s loops in Java would read device memory. The same
 * parameters ({@link Llama#declare}) and the same loss and gradient, to float rounding
 * ({@code ImplementationsTest}).
 */
final class LlamaGraph {
  private LlamaGraph() {}

  /** The hidden states of {@code embedded} [B*T, C]. */
  static SDVariable build(Graph g, SDVariable embedded) {
    var sd = g.sd;
    var cfg = g.config;
    int h = cfg.heads();
    int kv = cfg.kvHeads();
    Rotary rope = new Rotary(g);
    SDVariable causal = g.causalMask();
    SDVariable x = embedded; // [B*T, C]

    for (int l = 0; l < cfg.layers(); l++) {
      String p = "model.layers." + l + ".";
      SDVariable wq = g.var(p + "self_attn.q_proj.weight");
      SDVariable wk = g.var(p + "self_attn.k_proj.weight");
      SDVariable wv = g.var(p + "self_attn.v_proj.weight");
      SDVariable wo = g.var(p + "self_attn.o_proj.weight");
      SDVariable gate = g.var(p + "mlp.gate_proj.weight");
      SDVariable up = g.var(p + "mlp.up_proj.weight");
      SDVariable down = g.var(p + "mlp.down_proj.weight");
      SDVariable norm1 = g.var(p + "input_layernorm.weight");
      SDVariable norm2 = g.var(p + "post_attention_layernorm.weight");

      SDVariable a = g.rmsNorm(x, norm1); // [B*T, C]
      // One product for q, k and v, rotated in one pass ({@link Rotary}): fewer, larger ops.
      SDVariable qkv = rope.apply(linear(g, a, sd.concat(0, wq, wk, wv))); // [B*T, (H+2KV)·hd]
      SDVariable[] heads = g.splitHeads(qkv, h, kv, kv); // q scaled by 1/√hd already
      SDVariable k = repeat(g, heads[1]); // [B*H, T, hd]
      SDVariable v = repeat(g, heads[2]); // [B*H, T, hd]
      x = x.add(linear(g, g.merge(g.attention(heads[0], k, v, causal, 1.0)), wo)); // [B*T, C]

      SDVariable n = g.rmsNorm(x, norm2); // [B*T, C]
      SDVariable gated = linear(g, n, gate); // [B*T, M]
      SDVariable silu = sd.nn.swish(gated); // [B*T, M]: x·sigmoid(x), one op
      x = x.add(linear(g, silu.mul(linear(g, n, up)), down)); // [B*T, C]
    }
    return g.rmsNorm(x, g.var("model.norm.weight")); // [B*T, C]
  }

  /** PyTorch's {@code nn.Linear} without bias: x [N, in] · Wᵀ, W [out, in]. */
  static SDVariable linear(Graph g, SDVariable x, SDVariable w) {
    return g.sd.mmul(x, w, false, true, false);
  }

  /**
   * Grouped-query attention's {@code repeat_kv}: [B*KV, T, hd] to [B*H, T, hd], query head i
   * reading key-value head i / (H / KV).
   */
  private static SDVariable repeat(Graph g, SDVariable x) {
    int kv = g.config.kvHeads();
    int rep = g.config.heads() / kv;
    if (rep == 1) {
      return x;
    }
    int t = g.config.contextLength();
    int hd = g.config.headDim();
    SDVariable one = x.reshape(g.batch, kv, 1, t * hd); // [B, KV, 1, T*hd]
    SDVariable[] copies = new SDVariable[rep];
    java.util.Arrays.fill(copies, one);
    return g.sd.concat(2, copies).reshape(g.batch * g.config.heads(), t, hd); // [B*H, T, hd]
  }

  /**
   * Rotary position embeddings in Hugging Face's rotate-half convention, x·cos + rotate_half(x)
   * ·sin with rotate_half(x) = (−x₂, x₁) for the two halves of each head and frequencies
   * θ^(−2i/hd) for i < hd/2 repeated for both halves, applied to q, k and v side by side: v's
   * heads have cos 1 and sin 0 (not rotated), and q's carry attention's 1/√hd, which then
   * scales [B*T, H·hd] once rather than the scores [B*H, T, T]. Rotating half is a product with
   * a fixed signed permutation, which SameDiff differentiates like any product. The tables are
   * as large as the activations, not broadcast: a broadcast product's backward reduces over
   * the broadcast axes for the table's own gradient, which cost more than the rest of the op.
   */
  static final class Rotary {
    private final Graph g;
    private final int heads; // H + 2KV
    private final SDVariable cos; // [B*T, (H+2KV)·hd]
    private final SDVariable sin; // [B*T, (H+2KV)·hd]
    private final SDVariable rotateHalf; // [hd, hd]

    Rotary(Graph g) {
      this.g = g;
      int t = g.config.contextLength();
      int hd = g.config.headDim();
      int h = g.config.heads();
      this.heads = h + 2 * g.config.kvHeads();
      float[][] table = Rope.table(t, hd, g.config.ropeTheta()); // [T·hd] each
      float scale = (float) (1 / Math.sqrt(hd));
      int width = heads * hd;
      float[] c = new float[g.batch * t * width];
      float[] s = new float[c.length];
      for (int row = 0; row < g.batch * t; row++) {
        int p = row % t;
        for (int n = 0; n < heads; n++) {
          boolean value = n >= h + g.config.kvHeads();
          float by = n < h ? scale : 1f;
          for (int j = 0; j < hd; j++) {
            int at = row * width + n * hd + j;
            c[at] = value ? 1f : table[0][p * hd + j] * by;
            s[at] = value ? 0f : table[1][p * hd + j] * by;
          }
        }
      }
      long[] shape = {(long) g.batch * t, width};
      cos = g.sd.constant("rope_cos", Nd4j.create(c, shape, 'c'));
      sin = g.sd.constant("rope_sin", Nd4j.create(s, shape, 'c'));
      int half = hd / 2;
      float[] r = new float[hd * hd];
      for (int j = 0; j < half; j++) {
        r[(j + half) * hd + j] = -1f; // out j < half is −x[j + half]
        r[j * hd + j + half] = 1f; // out j + half is x[j]
      }
      rotateHalf = g.sd.constant("rope_rotate_half", Nd4j.create(r, new long[] {hd, hd}, 'c'));
    }

    /** Rotates q and k of {@code qkv} [B*T, (H+2KV)·hd] by position, and scales q. */
    SDVariable apply(SDVariable qkv) {
      int rows = g.batch * g.config.contextLength();
      int hd = g.config.headDim();
      SDVariable rotated = g.sd.mmul(qkv.reshape(rows * heads, hd), rotateHalf)
          .reshape(rows, heads * hd); // [B*T, (H+2KV)·hd]
      return qkv.mul(cos).add(rotated.mul(sin));
    }
  }
}
