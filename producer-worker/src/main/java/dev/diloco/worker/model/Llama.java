package dev.diloco.worker.model;

import dev.diloco.worker.ModelConfig;

/**
 * Hugging Face's {@code LlamaForCausalLM} (transformers' {@code modeling_llama.py}), with its
 * tensor names and shapes: token embedding, blocks of RMSNorm, causal attention with rotary
 * positions and grouped-query key-value heads, RMSNorm and a SwiGLU MLP, each around a
 * residual ({@link LlamaBlock}); a final RMSNorm and the head ({@code lm_head}, or the
 * embedding's transpose when tied). No biases. Linear weights are [out, in]: y = x·Wᵀ.
 */
final class Llama implements Architecture {
  static final String TABLE = "model.embed_tokens.weight";
  static final String HEAD = "lm_head.weight";

  private final ModelConfig cfg;

  Llama(ModelConfig cfg) {
    this.cfg = cfg;
  }

  @Override
  public String table() {
    return TABLE;
  }

  @Override
  public String head() {
    return cfg.tiedHead() ? TABLE : HEAD;
  }

  /** Initialised as transformers does: N(0, 0.02²) weights (initializer_range), unit gains. */
  @Override
  public void declare(Parameters p) {
    double std = 0.02;
    int c = cfg.dModel();
    int hd = cfg.headDim();
    int m = cfg.mlpHidden();
    p.normal(TABLE, std, cfg.vocab(), c);
    for (int l = 0; l < cfg.layers(); l++) {
      String at = "model.layers." + l + ".";
      p.normal(at + "self_attn.q_proj.weight", std, cfg.heads() * hd, c);
      p.normal(at + "self_attn.k_proj.weight", std, cfg.kvHeads() * hd, c);
      p.normal(at + "self_attn.v_proj.weight", std, cfg.kvHeads() * hd, c);
      p.normal(at + "self_attn.o_proj.weight", std, c, cfg.heads() * hd);
      p.normal(at + "mlp.gate_proj.weight", std, m, c);
      p.normal(at + "mlp.up_proj.weight", std, m, c);
      p.normal(at + "mlp.down_proj.weight", std, c, m);
      p.ones(at + "input_layernorm.weight", c);
      p.ones(at + "post_attention_layernorm.weight", c);
    }
    p.ones("model.norm.weight", c);
    if (!cfg.tiedHead()) {
      p.normal(HEAD, std, cfg.vocab(), c);
    }
  }

  @Override
  public Block[] blocks(Views weights, Views gradients, int batch) {
    float[][] rope = Rope.table(cfg.contextLength(), cfg.headDim(), cfg.ropeTheta());
    LlamaBlock.Scratch scratch = LlamaBlock.Scratch.of(cfg, batch);
    Block[] blocks = new Block[cfg.layers()];
    for (int l = 0; l < blocks.length; l++) {
      blocks[l] = new LlamaBlock(cfg, batch, l, weights, gradients, rope, scratch);
    }
    return blocks;
  }

  @Override
  public Norm finalNorm(Views weights, Views gradients, int rows) {
    return new Norm.Rms(weights.of("model.norm.weight"), gradients.of("model.norm.weight"),
        cfg.normEps(), rows);
  }
}
