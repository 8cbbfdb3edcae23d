package dev.diloco.worker;

import dev.diloco.core.layout.ParameterLayout;

/**
 * Text from a llama's or a gpt2's weights with a cache of past keys and values ({@link
 * CachedSampler}), their forward pass of one position as FORMAT.md section 12 defines it (a
 * test holds its logits to the SameDiff graph's).
 */
public final class HfSampler extends CachedSampler {

  private final float[][] rope; // cos, sin [T·hd], as the llama graph's

  public HfSampler(ModelConfig config, ParameterLayout layout, float[] weights) {
    super(config, layout, weights);
    if (config.family() == ModelConfig.Family.BYTE_TRANSFORMER) {
      throw new IllegalArgumentException("a byte-transformer samples with ByteSampler");
    }
    rope = config.family() == ModelConfig.Family.LLAMA
        ? dev.diloco.worker.model.Rope.table(config.contextLength(), config.headDim(),
            config.ropeTheta()) : null;
  }

  @Override
  float[] next(int token) {
    float[] logits = cfg.family() == ModelConfig.Family.LLAMA ? llama(token) : gpt2(token);
    pos++;
    return logits;
  }

  private float[] llama(int token) {
    int c = cfg.dModel();
    int kv = cfg.kvHeads() * cfg.headDim();
    float[] x = new float[c];
    System.arraycopy(w, off("model.embed_tokens.weight") + token * c, x, 0, c);
    for (int l = 0; l < cfg.layers(); l++) {
      String p = "model.layers." + l + ".";
      float[] a = rmsNorm(x, off(p + "input_layernorm.weight"));
      float[] q = rotate(wx(a, off(p + "self_attn.q_proj.weight"), c));
      float[] k = rotate(wx(a, off(p + "self_attn.k_proj.weight"), kv));
      store(l, k, wx(a, off(p + "self_attn.v_proj.weight"), kv));
      add(x, wx(attend(q, l), off(p + "self_attn.o_proj.weight"), c));
      float[] n = rmsNorm(x, off(p + "post_attention_layernorm.weight"));
      float[] gate = wx(n, off(p + "mlp.gate_proj.weight"), cfg.mlpHidden());
      float[] up = wx(n, off(p + "mlp.up_proj.weight"), cfg.mlpHidden());
      for (int i = 0; i < gate.length; i++) {
        gate[i] = (float) (gate[i] / (1 + Math.exp(-gate[i]))) * up[i]; // silu(gate) ⊙ up
      }
      add(x, wx(gate, off(p + "mlp.down_proj.weight"), c));
    }
    float[] h = rmsNorm(x, off("model.norm.weight"));
    return wx(h, off(cfg.tiedHead() ? "model.embed_tokens.weight" : "lm_head.weight"),
        cfg.vocab());
  }

  /** Each head of {@code x} rotated by the current position: x·cos + rotate_half(x)·sin. */
  private float[] rotate(float[] x) {
    int hd = cfg.headDim();
    int half = hd / 2;
    float[] out = new float[x.length];
    for (int h = 0; h < x.length / hd; h++) {
      for (int d = 0; d < hd; d++) {
        float other = d < half ? -x[h * hd + d + half] : x[h * hd + d - half];
        out[h * hd + d] = x[h * hd + d] * rope[0][pos * hd + d]
            + other * rope[1][pos * hd + d];
      }
    }
    return out;
  }

  private float[] gpt2(int token) {
    int c = cfg.dModel();
    float[] x = new float[c];
    int wte = off("transformer.wte.weight");
    int wpe = off("transformer.wpe.weight");
    for (int i = 0; i < c; i++) {
      x[i] = w[wte + token * c + i] + w[wpe + pos * c + i];
    }
    for (int l = 0; l < cfg.layers(); l++) {
      String p = "transformer.h." + l + ".";
      float[] a = layerNorm(x, off(p + "ln_1.weight"), off(p + "ln_1.bias"));
      float[] qkv = bias(xW(a, off(p + "attn.c_attn.weight"), 3 * c),
          off(p + "attn.c_attn.bias"));
      store(l, java.util.Arrays.copyOfRange(qkv, c, 2 * c),
          java.util.Arrays.copyOfRange(qkv, 2 * c, 3 * c));
      float[] y = attend(java.util.Arrays.copyOf(qkv, c), l);
      add(x, bias(xW(y, off(p + "attn.c_proj.weight"), c), off(p + "attn.c_proj.bias")));
      float[] m = bias(xW(layerNorm(x, off(p + "ln_2.weight"), off(p + "ln_2.bias")),
          off(p + "mlp.c_fc.weight"), cfg.mlpHidden()), off(p + "mlp.c_fc.bias"));
      for (int i = 0; i < m.length; i++) {
        m[i] = activation(m[i]);
      }
      add(x, bias(xW(m, off(p + "mlp.c_proj.weight"), c), off(p + "mlp.c_proj.bias")));
    }
    float[] h = layerNorm(x, off("transformer.ln_f.weight"), off("transformer.ln_f.bias"));
    return wx(h, off(cfg.tiedHead() ? "transformer.wte.weight" : "lm_head.weight"),
        cfg.vocab());
  }

  private float activation(float x) {
    return dev.diloco.worker.model.Activations.apply(cfg.activation(), x);
  }
}
