package dev.diloco.worker.model;

import dev.diloco.worker.ModelConfig;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Hugging Face's {@code GPT2LMHeadModel} (transformers' {@code modeling_gpt2.py}), with its
 * tensor names and shapes: token and learned position embeddings, pre-norm blocks of LayerNorm,
 * causal attention from one fused {@code c_attn} product with biases, LayerNorm and an MLP
 * with the config's activation ({@link Gpt2Block}); a final LayerNorm and a head tied to the
 * token embedding. Weights are GPT-2's Conv1D layout, [in, out]: y = x·W + b.
 */
final class Gpt2 implements Architecture {
  static final String TABLE = "transformer.wte.weight";
  static final String HEAD = "lm_head.weight";
  private static final String POSITIONS = "transformer.wpe.weight";

  private final ModelConfig cfg;

  Gpt2(ModelConfig cfg) {
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

  /** As GPT-2: N(0, 0.02²), and 0.02 / √(2L) for the products into the residual stream. */
  @Override
  public void declare(Parameters p) {
    double std = 0.02; // initializer_range
    double residualStd = std / Math.sqrt(2.0 * cfg.layers());
    int c = cfg.dModel();
    int m = cfg.mlpHidden();
    p.normal(TABLE, std, cfg.vocab(), c);
    p.normal(POSITIONS, std, cfg.maxPositions(), c);
    for (int l = 0; l < cfg.layers(); l++) {
      String at = "transformer.h." + l + ".";
      p.ones(at + "ln_1.weight", c);
      p.zeros(at + "ln_1.bias", c);
      p.normal(at + "attn.c_attn.weight", std, c, 3 * c);
      p.zeros(at + "attn.c_attn.bias", 3 * c);
      p.normal(at + "attn.c_proj.weight", residualStd, c, c);
      p.zeros(at + "attn.c_proj.bias", c);
      p.ones(at + "ln_2.weight", c);
      p.zeros(at + "ln_2.bias", c);
      p.normal(at + "mlp.c_fc.weight", std, c, m);
      p.zeros(at + "mlp.c_fc.bias", m);
      p.normal(at + "mlp.c_proj.weight", residualStd, m, c);
      p.zeros(at + "mlp.c_proj.bias", c);
    }
    p.ones("transformer.ln_f.weight", c);
    p.zeros("transformer.ln_f.bias", c);
    if (!cfg.tiedHead()) {
      p.normal(HEAD, std, cfg.vocab(), c);
    }
  }

  @Override
  public Block[] blocks(Views weights, Views gradients, int batch) {
    Gpt2Block.Scratch scratch = Gpt2Block.Scratch.of(cfg, batch);
    Block[] blocks = new Block[cfg.layers()];
    for (int l = 0; l < blocks.length; l++) {
      String at = "transformer.h." + l + ".";
      Gpt2Block.Names names = new Gpt2Block.Names(at + "ln_1",
          new String[] {at + "attn.c_attn.weight"}, at + "attn.c_attn.bias",
          at + "attn.c_proj.weight", at + "attn.c_proj.bias", at + "ln_2",
          at + "mlp.c_fc.weight", at + "mlp.c_fc.bias", at + "mlp.c_proj.weight",
          at + "mlp.c_proj.bias");
      blocks[l] = new Gpt2Block(cfg, batch, names, weights, gradients, scratch);
    }
    return blocks;
  }

  @Override
  public Norm finalNorm(Views weights, Views gradients, int rows) {
    return new Norm.Layer(weights.of("transformer.ln_f.weight"),
        weights.of("transformer.ln_f.bias"), gradients.of("transformer.ln_f.weight"),
        gradients.of("transformer.ln_f.bias"), cfg.normEps(), rows);
  }

  @Override
  public void addPositions(INDArray embedded, Views weights) {
    Positions.add(embedded, weights.of(POSITIONS), cfg.contextLength());
  }

  @Override
  public void positionsBackward(INDArray dEmbedded, Views gradients) {
    Positions.backward(dEmbedded, gradients.of(POSITIONS), cfg.contextLength());
  }
}
