package dev.diloco.worker.model;

import org.nd4j.autodiff.samediff.SDVariable;

/**
 * {@link ByteGpt} as a SameDiff graph, for ND4J backends other than the CPU's (the {@code -Pcuda}
 * build), where {@link Transformer}'s loops in Java would read device memory. The same
 * parameters ({@link ByteGpt#declare}) and the same loss and gradient, to float rounding
 * ({@code ImplementationsTest}).
 */
final class ByteGptGraph {
  private ByteGptGraph() {}

  /** The hidden states of {@code embedded} [B*T, C]. */
  static SDVariable build(Graph g, SDVariable embedded) {
    var sd = g.sd;
    int t = g.config.contextLength();
    int c = g.config.dModel();
    int h = g.config.heads();
    SDVariable wpe = g.var("wpe");
    SDVariable x = embedded.reshape(g.batch, t, c).add(wpe).reshape(g.batch * t, c); // [B*T, C]
    SDVariable causal = g.causalMask();

    for (int l = 0; l < g.config.layers(); l++) {
      String p = "blocks." + l + ".";
      SDVariable ln1g = g.var(p + "ln1.weight");
      SDVariable ln1b = g.var(p + "ln1.bias");
      SDVariable wq = g.var(p + "attn.wq");
      SDVariable wk = g.var(p + "attn.wk");
      SDVariable wv = g.var(p + "attn.wv");
      SDVariable wo = g.var(p + "attn.wo");
      SDVariable ln2g = g.var(p + "ln2.weight");
      SDVariable ln2b = g.var(p + "ln2.bias");
      SDVariable w1 = g.var(p + "mlp.w1");
      SDVariable b1 = g.var(p + "mlp.b1");
      SDVariable w2 = g.var(p + "mlp.w2");
      SDVariable b2 = g.var(p + "mlp.b2");

      SDVariable a = g.layerNorm(x, ln1g, ln1b); // [B*T, C]
      // Three products, not one of the weights concatenated: measured slower at these sizes
      // (tiny and small: 7-31% fewer tokens/s), the concatenation and the slices costing more
      // than the two products they save.
      SDVariable y = g.attention(g.heads(sd.mmul(a, wq), h), g.heads(sd.mmul(a, wk), h),
          g.heads(sd.mmul(a, wv), h), causal); // [B*H, T, hd]
      x = x.add(sd.mmul(g.merge(y), wo)); // [B*T, C]

      SDVariable mlp = sd.nn.gelu(sd.mmul(g.layerNorm(x, ln2g, ln2b), w1).add(b1)); // [B*T, M]
      x = x.add(sd.mmul(mlp, w2).add(b2)); // [B*T, C]
    }
    return g.layerNorm(x, g.var("ln_f.weight"), g.var("ln_f.bias")); // [B*T, C]
  }
}
