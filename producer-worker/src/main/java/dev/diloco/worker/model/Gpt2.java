package dev.diloco.worker.model;

import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;

/**
 * Hugging Face's {@code GPT2LMHeadModel} (transformers' {@code modeling_gpt2.py}), with its
 * tensor names and shapes: token and learned position embeddings, pre-norm blocks of LayerNorm,
 * causal attention from one fused {@code c_attn} product with biases, LayerNorm and an MLP
 * with the config's activation; a final LayerNorm and a head tied to the token embedding.
 * Weights are GPT-2's Conv1D layout, [in, out]: y = x·W + b.
 */
final class Gpt2 {
  private Gpt2() {}

  /** √(2/π), of GPT-2's tanh GELU. */
  private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

  /** Declares the parameters in layout order; the hidden states of {@code embedded} [B*T, C]. */
  static Graph.Output build(Graph g, SDVariable embedded) {
    var sd = g.sd;
    var cfg = g.config;
    int t = cfg.contextLength();
    int c = cfg.dModel();
    int h = cfg.heads();
    int m = cfg.mlpHidden();
    double std = 0.02; // initializer_range
    double residualStd = std / Math.sqrt(2.0 * cfg.layers()); // c_proj weights, as GPT-2's
    g.table("transformer.wte.weight", std);
    SDVariable wpe = g.normal("transformer.wpe.weight", std, cfg.maxPositions(), c);
    SDVariable positions = cfg.maxPositions() == t ? wpe
        : wpe.get(SDIndex.interval(0, t), SDIndex.all()); // [T, C]: the window's positions
    SDVariable x = embedded.reshape(g.batch, t, c).add(positions).reshape(g.batch * t, c);
    SDVariable causal = g.causalMask();

    for (int l = 0; l < cfg.layers(); l++) {
      String p = "transformer.h." + l + ".";
      SDVariable ln1g = g.ones(p + "ln_1.weight", c);
      SDVariable ln1b = g.zeros(p + "ln_1.bias", c);
      SDVariable attnW = g.normal(p + "attn.c_attn.weight", std, c, 3 * c);
      SDVariable attnB = g.zeros(p + "attn.c_attn.bias", 3 * c);
      SDVariable projW = g.normal(p + "attn.c_proj.weight", residualStd, c, c);
      SDVariable projB = g.zeros(p + "attn.c_proj.bias", c);
      SDVariable ln2g = g.ones(p + "ln_2.weight", c);
      SDVariable ln2b = g.zeros(p + "ln_2.bias", c);
      SDVariable fcW = g.normal(p + "mlp.c_fc.weight", std, c, m);
      SDVariable fcB = g.zeros(p + "mlp.c_fc.bias", m);
      SDVariable outW = g.normal(p + "mlp.c_proj.weight", residualStd, m, c);
      SDVariable outB = g.zeros(p + "mlp.c_proj.bias", c);

      SDVariable qkv = sd.mmul(g.layerNorm(x, ln1g, ln1b), attnW).add(attnB); // [B*T, 3C]
      SDVariable[] heads = g.splitHeads(qkv, h, h, h); // q, k, v: [B*H, T, hd] each
      SDVariable y = g.merge(g.attention(heads[0], heads[1], heads[2], causal)); // [B*T, C]
      x = x.add(sd.mmul(y, projW).add(projB)); // [B*T, C]

      SDVariable hidden = sd.mmul(g.layerNorm(x, ln2g, ln2b), fcW).add(fcB); // [B*T, M]
      x = x.add(sd.mmul(activation(g, hidden), outW).add(outB)); // [B*T, C]
    }
    x = g.layerNorm(x, g.ones("transformer.ln_f.weight", c), g.zeros("transformer.ln_f.bias", c));
    return g.head(x, "lm_head.weight", std, true); // [B*T, C]; head [V, C]
  }

  /**
   * The config's {@code activation_function}, written out rather than ND4J's {@code gelu}
   * (which is the sigmoid approximation): gelu_new is GPT-2's tanh form, gelu the exact erf.
   */
  private static SDVariable activation(Graph g, SDVariable x) {
    var sd = g.sd;
    return switch (g.config.activation()) {
      case "gelu_new" -> x.mul(0.5).mul(sd.math.tanh(x.add(x.mul(x).mul(x).mul(0.044715))
          .mul(SQRT_2_OVER_PI)).add(1.0));
      case "gelu" -> x.mul(0.5).mul(sd.math.erf(x.mul(1 / Math.sqrt(2))).add(1.0));
      case "relu" -> sd.nn.relu(x, 0);
      default -> throw new IllegalStateException("GPT-2 activation " + g.config.activation());
    };
  }
}
