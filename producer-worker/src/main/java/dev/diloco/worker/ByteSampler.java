package dev.diloco.worker;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.worker.model.Activations;

/**
 * Text from a byte-transformer's weights with a cache of past keys and values ({@link
 * CachedSampler}): 300 bytes in milliseconds instead of minutes. The same computation as the
 * family's graph (a test holds its logits to it): embeddings, pre-norm blocks of causal
 * attention and a GELU MLP (x·σ(1.702x), ND4J's), a final norm and the head.
 */
public final class ByteSampler extends CachedSampler {

  /** A sampler of the model {@code config} with {@code weights} in {@code layout} order. */
  public ByteSampler(ModelConfig config, ParameterLayout layout, float[] weights) {
    super(config, layout, weights);
  }

  @Override
  float[] next(int token) {
    int c = cfg.dModel();
    float[] x = new float[c]; // [C]
    int wte = off("wte");
    int wpe = off("wpe");
    for (int i = 0; i < c; i++) {
      x[i] = w[wte + token * c + i] + w[wpe + pos * c + i];
    }
    for (int l = 0; l < cfg.layers(); l++) {
      String p = "blocks." + l + ".";
      float[] a = layerNorm(x, off(p + "ln1.weight"), off(p + "ln1.bias"));
      float[] q = xW(a, off(p + "attn.wq"), c);
      store(l, xW(a, off(p + "attn.wk"), c), xW(a, off(p + "attn.wv"), c));
      add(x, xW(attend(q, l), off(p + "attn.wo"), c));
      float[] m = bias(xW(layerNorm(x, off(p + "ln2.weight"), off(p + "ln2.bias")),
          off(p + "mlp.w1"), cfg.mlpHidden()), off(p + "mlp.b1")); // [M]
      for (int i = 0; i < m.length; i++) {
        m[i] = Activations.apply("gelu_sigmoid", m[i]);
      }
      add(x, bias(xW(m, off(p + "mlp.w2"), c), off(p + "mlp.b2")));
    }
    pos++;
    return xW(layerNorm(x, off("ln_f.weight"), off("ln_f.bias")), off("lm_head"), cfg.vocab());
  }
}
