package dev.diloco.worker.model;

import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;

/**
 * {@link Gpt2} as a SameDiff graph, for ND4J backends other than the CPU's (the {@code -Pcuda}
 * build), where {@link Transformer}'s loops in Java would read device memory. The same
 * parameters ({@link Gpt2#declare}) and the same loss and gradient, to float rounding
 * ({@code ImplementationsTest}).
 */
final class Gpt2Graph {
  private Gpt2Graph() {}

  /** √(2/π), of GPT-2's tanh GELU. */
  private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

  /** The hidden states of {@code embedded} [B*T, C]. */
  static SDVariable build(Graph g, SDVariable embedded) {
    var sd = g.sd;
    var cfg = g.config;
    int t = cfg.contextLength();
    int c = cfg.dModel();
    int h = cfg.heads();
    SDVariable wpe = g.var("transformer.wpe.weight");
    SDVariable positions = cfg.maxPositions() == t ? wpe
        : wpe.get(SDIndex.interval(0, t), SDIndex.all()); // [T, C]: the window's positions
    SDVariable x = embedded.reshape(g.batch, t, c).add(positions).reshape(g.batch * t, c);
    SDVariable causal = g.causalMask();

    for (int l = 0; l < cfg.layers(); l++) {
      String p = "transformer.h." + l + ".";
      SDVariable ln1g = g.var(p + "ln_1.weight");
      SDVariable ln1b = g.var(p + "ln_1.bias");
      SDVariable attnW = g.var(p + "attn.c_attn.weight");
      SDVariable attnB = g.var(p + "attn.c_attn.bias");
      SDVariable projW = g.var(p + "attn.c_proj.weight");
      SDVariable projB = g.var(p + "attn.c_proj.bias");
      SDVariable ln2g = g.var(p + "ln_2.weight");
      SDVariable ln2b = g.var(p + "ln_2.bias");
      SDVariable fcW = g.var(p + "mlp.c_fc.weight");
      SDVariable fcB = g.var(p + "mlp.c_fc.bias");
      SDVariable outW = g.var(p + "mlp.c_proj.weight");
      SDVariable outB = g.var(p + "mlp.c_proj.bias");

      SDVariable qkv = sd.mmul(g.layerNorm(x, ln1g, ln1b), attnW).add(attnB); // [B*T, 3C]
      SDVariable[] heads = g.splitHeads(qkv, h, h, h); // q, k, v: [B*H, T, hd] each
      SDVariable y = g.merge(g.attention(heads[0], heads[1], heads[2], causal)); // [B*T, C]
      x = x.add(sd.mmul(y, projW).add(projB)); // [B*T, C]

      SDVariable hidden = sd.mmul(g.layerNorm(x, ln2g, ln2b), fcW).add(fcB); // [B*T, M]
      x = x.add(sd.mmul(activation(g, hidden), outW).add(outB)); // [B*T, C]
    }
    return g.layerNorm(x, g.var("transformer.ln_f.weight"),
        g.var("transformer.ln_f.bias")); // [B*T, C]
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
