package dev.diloco.worker.model;

import org.nd4j.autodiff.samediff.SDVariable;

/**
 * The project's first model (family {@code byte-transformer}), after nanoGPT: token and learned
 * position embeddings, pre-norm blocks of causal multi-head attention and an MLP with ND4J's
 * GELU (its sigmoid form, x·σ(1.702x)), a final norm and an untied head, with our own tensor
 * names. It stays a family of its own, not a GPT-2 configuration: runs already in logs name
 * these tensors and replay them bit for bit, and GPT-2's tanh GELU would change their numbers.
 */
final class ByteGpt {
  private ByteGpt() {}

  /** Declares the parameters in layout order; the hidden states of {@code embedded} [B*T, C]. */
  static Graph.Output build(Graph g, SDVariable embedded) {
    var sd = g.sd;
    int t = g.config.contextLength();
    int c = g.config.dModel();
    int h = g.config.heads();
    int m = g.config.mlpHidden();
    g.table("wte", 0.02);
    SDVariable wpe = g.normal("wpe", 0.02, t, c);
    SDVariable x = embedded.reshape(g.batch, t, c).add(wpe).reshape(g.batch * t, c); // [B*T, C]
    SDVariable causal = g.causalMask();
    double residualStd = 0.02 / Math.sqrt(2.0 * g.config.layers()); // GPT-2's scaled init

    for (int l = 0; l < g.config.layers(); l++) {
      String p = "blocks." + l + ".";
      SDVariable ln1g = g.ones(p + "ln1.weight", c);
      SDVariable ln1b = g.zeros(p + "ln1.bias", c);
      SDVariable wq = g.normal(p + "attn.wq", 0.02, c, c);
      SDVariable wk = g.normal(p + "attn.wk", 0.02, c, c);
      SDVariable wv = g.normal(p + "attn.wv", 0.02, c, c);
      SDVariable wo = g.normal(p + "attn.wo", residualStd, c, c);
      SDVariable ln2g = g.ones(p + "ln2.weight", c);
      SDVariable ln2b = g.zeros(p + "ln2.bias", c);
      SDVariable w1 = g.normal(p + "mlp.w1", 0.02, c, m);
      SDVariable b1 = g.zeros(p + "mlp.b1", m);
      SDVariable w2 = g.normal(p + "mlp.w2", residualStd, m, c);
      SDVariable b2 = g.zeros(p + "mlp.b2", c);

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
    SDVariable lnfg = g.ones("ln_f.weight", c);
    SDVariable lnfb = g.zeros("ln_f.bias", c);
    return g.head(g.layerNorm(x, lnfg, lnfb), "lm_head", 0.02, false); // [B*T, C]; head [C, V]
  }
}
