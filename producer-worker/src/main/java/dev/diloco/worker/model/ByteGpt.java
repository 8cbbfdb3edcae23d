package dev.diloco.worker.model;

import dev.diloco.worker.ModelConfig;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The project's first model (family {@code byte-transformer}), after nanoGPT: token and learned
 * position embeddings, pre-norm blocks of causal multi-head attention (q, k and v each its own
 * product, no biases) and an MLP with ND4J's GELU (its sigmoid form, x·σ(1.702x)), a final
 * LayerNorm and an untied head [C, V], with our own tensor names; weights [in, out]. GPT-2's
 * block computes it ({@link Gpt2Block}). It stays a family of its own, not a GPT-2
 * configuration: runs already in logs name these tensors, and GPT-2's tanh GELU would change
 * their numbers.
 */
final class ByteGpt implements Architecture {
  static final String TABLE = "wte";
  static final String HEAD = "lm_head";
  private static final String POSITIONS = "wpe";

  private final ModelConfig cfg;

  ByteGpt(ModelConfig cfg) {
    this.cfg = cfg;
  }

  @Override
  public String table() {
    return TABLE;
  }

  @Override
  public String head() {
    return HEAD;
  }

  @Override
  public boolean headIsVByC() {
    return false;
  }

  /** As GPT-2: N(0, 0.02²), and 0.02 / √(2L) for the products into the residual stream. */
  @Override
  public void declare(Parameters p) {
    int c = cfg.dModel();
    int m = cfg.mlpHidden();
    double residualStd = 0.02 / Math.sqrt(2.0 * cfg.layers());
    p.normal(TABLE, 0.02, cfg.vocab(), c);
    p.normal(POSITIONS, 0.02, cfg.contextLength(), c);
    for (int l = 0; l < cfg.layers(); l++) {
      String at = "blocks." + l + ".";
      p.ones(at + "ln1.weight", c);
      p.zeros(at + "ln1.bias", c);
      p.normal(at + "attn.wq", 0.02, c, c);
      p.normal(at + "attn.wk", 0.02, c, c);
      p.normal(at + "attn.wv", 0.02, c, c);
      p.normal(at + "attn.wo", residualStd, c, c);
      p.ones(at + "ln2.weight", c);
      p.zeros(at + "ln2.bias", c);
      p.normal(at + "mlp.w1", 0.02, c, m);
      p.zeros(at + "mlp.b1", m);
      p.normal(at + "mlp.w2", residualStd, m, c);
      p.zeros(at + "mlp.b2", c);
    }
    p.ones("ln_f.weight", c);
    p.zeros("ln_f.bias", c);
    p.normal(HEAD, 0.02, c, cfg.vocab());
  }

  @Override
  public Block[] blocks(Views weights, Views gradients, int batch) {
    Gpt2Block.Scratch scratch = Gpt2Block.Scratch.of(cfg, batch);
    Block[] blocks = new Block[cfg.layers()];
    for (int l = 0; l < blocks.length; l++) {
      String at = "blocks." + l + ".";
      Gpt2Block.Names names = new Gpt2Block.Names(at + "ln1",
          new String[] {at + "attn.wq", at + "attn.wk", at + "attn.wv"}, null, at + "attn.wo",
          null, at + "ln2", at + "mlp.w1", at + "mlp.b1", at + "mlp.w2", at + "mlp.b2");
      blocks[l] = new Gpt2Block(cfg, batch, names, weights, gradients, scratch);
    }
    return blocks;
  }

  @Override
  public Norm finalNorm(Views weights, Views gradients, int rows) {
    return new Norm.Layer(weights.of("ln_f.weight"), weights.of("ln_f.bias"),
        gradients.of("ln_f.weight"), gradients.of("ln_f.bias"), cfg.normEps(), rows);
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
