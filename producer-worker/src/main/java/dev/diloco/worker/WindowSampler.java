package dev.diloco.worker;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Sampling through a family's own SameDiff graph, so that what is sampled is what was trained
 * and no second forward pass has to agree with it: each token is one pass of a batch-1 model
 * over the window so far. The window is as short as the text (a power of two, at most the
 * model's T: rotary and learned positions both allow a shorter one), so 200 tokens of a small
 * model take seconds; past T, the last T tokens are the window, as nanoGPT's {@code generate}.
 * Later positions of a short text are padding that a causal model's earlier logits never see.
 */
public final class WindowSampler implements Sampler {

  private final ModelConfig config;
  private final float[] weights;
  private LanguageModel model;

  public WindowSampler(ModelConfig config, float[] weights) {
    this.config = config;
    this.weights = weights;
  }

  @Override
  public int[] generate(int[] prompt, int length, double temperature, long seed) {
    Sampler.check(prompt, length, temperature, config.vocab());
    int t = Math.min(config.contextLength(),
        Integer.highestOneBit(Math.max(1, prompt.length + length - 1) * 2 - 1));
    if (model == null || model.config().contextLength() != t) {
      model = LanguageModel.of(config.withContext(t), 1, 0);
      model.setParameters(weights);
    }
    SplittableRandom random = new SplittableRandom(seed);
    int v = config.vocab();
    double[] p = new double[v];
    int[] seen = Arrays.copyOf(prompt, prompt.length + length); // prompt, then sampled
    int[][] window = new int[1][t + 1];
    for (int n = prompt.length; n < seen.length; n++) {
      int from = Math.max(0, n - t);
      Arrays.fill(window[0], 0);
      System.arraycopy(seen, from, window[0], 0, n - from);
      float[] logits = model.logits(window, n - from - 1); // [1, V]
      seen[n] = Sampler.draw(logits, 0, v, temperature, random, p);
    }
    return Arrays.copyOfRange(seen, prompt.length, seen.length);
  }
}
