package dev.diloco.worker.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Hugging Face's {@code LlamaForCausalLM} (transformers' {@code modeling_llama.py}), with its
 * tensor names and shapes: token embedding, blocks of RMSNorm, causal attention with rotary
 * positions and grouped-query key-value heads, RMSNorm and a SwiGLU MLP, each around a
 * residual; a final RMSNorm and the head ({@code lm_head}, or the embedding's transpose when
 * tied). No biases. Linear weights are [out, in], as PyTorch's: y = x·Wᵀ.
 */
final class Llama {
  private Llama() {}

  /** Declares the parameters in layout order; the hidden states of {@code embedded} [B*T, C]. */
  static Graph.Output build(Graph g, SDVariable embedded) {
    var sd = g.sd;
    var cfg = g.config;
    int c = cfg.dModel();
    int h = cfg.heads();
    int kv = cfg.kvHeads();
    int hd = cfg.headDim();
    int m = cfg.mlpHidden();
    double std = 0.02; // initializer_range
    g.table("model.embed_tokens.weight", std);
    Rotary rope = new Rotary(g);
    SDVariable causal = g.causalMask();
    SDVariable x = embedded; // [B*T, C]

    for (int l = 0; l < cfg.layers(); l++) {
      String p = "model.layers." + l + ".";
      SDVariable wq = g.normal(p + "self_attn.q_proj.weight", std, h * hd, c);
      SDVariable wk = g.normal(p + "self_attn.k_proj.weight", std, kv * hd, c);
      SDVariable wv = g.normal(p + "self_attn.v_proj.weight", std, kv * hd, c);
      SDVariable wo = g.normal(p + "self_attn.o_proj.weight", std, c, h * hd);
      SDVariable gate = g.normal(p + "mlp.gate_proj.weight", std, m, c);
      SDVariable up = g.normal(p + "mlp.up_proj.weight", std, m, c);
      SDVariable down = g.normal(p + "mlp.down_proj.weight", std, c, m);
      SDVariable norm1 = g.ones(p + "input_layernorm.weight", c);
      SDVariable norm2 = g.ones(p + "post_attention_layernorm.weight", c);

      SDVariable a = g.rmsNorm(x, norm1); // [B*T, C]
      SDVariable q = g.heads(rope.apply(linear(g, a, wq), h), h); // [B*H, T, hd]
      SDVariable k = repeat(g, g.heads(rope.apply(linear(g, a, wk), kv), kv)); // [B*H, T, hd]
      SDVariable v = repeat(g, g.heads(linear(g, a, wv), kv)); // [B*H, T, hd]
      x = x.add(linear(g, g.merge(g.attention(q, k, v, causal)), wo)); // [B*T, C]

      SDVariable n = g.rmsNorm(x, norm2); // [B*T, C]
      SDVariable gated = linear(g, n, gate); // [B*T, M]
      SDVariable silu = gated.mul(sd.nn.sigmoid(gated)); // [B*T, M]
      x = x.add(linear(g, silu.mul(linear(g, n, up)), down)); // [B*T, C]
    }
    SDVariable norm = g.ones("model.norm.weight", c);
    return g.head(g.rmsNorm(x, norm), "lm_head.weight", std, true); // [B*T, C]; head [V, C]
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
   * Rotary position embeddings in Hugging Face's rotate-half convention: x·cos + rotate_half(x)
   * ·sin, with rotate_half(x) = (−x₂, x₁) for the two halves of each head, and frequencies
   * θ^(−2i/hd) for i < hd/2, repeated for both halves. Rotating half is a product with a fixed
   * signed permutation, which SameDiff differentiates like any product.
   */
  static final class Rotary {
    private final Graph g;
    private final SDVariable cos; // [1, T, 1, hd]
    private final SDVariable sin; // [1, T, 1, hd]
    private final SDVariable rotateHalf; // [hd, hd]

    Rotary(Graph g) {
      this.g = g;
      int t = g.config.contextLength();
      int hd = g.config.headDim();
      float[][] table = Rope.table(t, hd, g.config.ropeTheta());
      cos = g.sd.constant("rope_cos", Nd4j.create(table[0], new long[] {1, t, 1, hd}, 'c'));
      sin = g.sd.constant("rope_sin", Nd4j.create(table[1], new long[] {1, t, 1, hd}, 'c'));
      int half = hd / 2;
      float[] r = new float[hd * hd];
      for (int j = 0; j < half; j++) {
        r[(j + half) * hd + j] = -1f; // out j < half is −x[j + half]
        r[j * hd + j + half] = 1f; // out j + half is x[j]
      }
      rotateHalf = g.sd.constant("rope_rotate_half", Nd4j.create(r, new long[] {hd, hd}, 'c'));
    }

    /** Rotates each of the {@code n} heads of {@code x} [B*T, n·hd] by its position. */
    SDVariable apply(SDVariable x, int n) {
      int t = g.config.contextLength();
      int hd = g.config.headDim();
      SDVariable heads = x.reshape(g.batch, t, n, hd); // [B, T, n, hd]
      SDVariable rotated = g.sd.mmul(x.reshape(g.batch * t * n, hd), rotateHalf)
          .reshape(g.batch, t, n, hd); // [B, T, n, hd]
      return heads.mul(cos).add(rotated.mul(sin)).reshape(g.batch * t, n * hd); // [B*T, n·hd]
    }
  }
}
