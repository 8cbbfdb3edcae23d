package dev.diloco.worker;

import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;

/**
 * A worker's inner phase (DiLoCo, Algorithm 1, lines 4-7): H AdamW steps on its local weights,
 * each on a batch of windows of its own shard drawn from {@link ByteCorpus#stepRandom}(seed,
 * worker, round, step). The pipeline's {@link Worker} and the {@link DiLoCo} reference run this
 * one loop, so that they train the same bits. The AdamW moments carry over from round to round.
 */
public final class InnerSteps {

  private final ByteTransformer model;
  private final AdamW adamw;
  private final byte[] shard;
  private final long seed;
  private final String workerId;
  private final int steps;

  /** H = {@code steps} steps of {@code model} with {@code adamw} on worker {@code workerId}'s shard. */
  public InnerSteps(ByteTransformer model, AdamW adamw, byte[] shard, long seed, String workerId,
      int steps) {
    if (steps < 1) {
      throw new IllegalArgumentException("inner steps must be >= 1, got " + steps);
    }
    this.model = model;
    this.adamw = adamw;
    this.shard = shard;
    this.seed = seed;
    this.workerId = workerId;
    this.steps = steps;
  }

  /** Tokens one round trains on: H steps of a batch of windows. */
  public long tokensPerRound() {
    return (long) steps * model.batch() * model.config().contextLength();
  }

  /** The round's H steps on {@code local}, in place; returns the sum of their losses. */
  public double run(int round, float[] local, float[] grad) {
    return run(round, local, grad, step -> { }, () -> false);
  }

  /**
   * As above; {@code afterStep} sees the number of each step done, and the loop ends early
   * when {@code stop} says so (checked before each step): a stopped round is half trained.
   */
  public double run(int round, float[] local, float[] grad, IntConsumer afterStep,
      BooleanSupplier stop) {
    model.setParameters(local);
    double lossSum = 0;
    for (int step = 0; step < steps && !stop.getAsBoolean(); step++) {
      lossSum += model.lossAndGradient(ByteCorpus.windows(shard, model.batch(),
          model.config().contextLength(), ByteCorpus.stepRandom(seed, workerId, round, step)),
          grad); // [B, T + 1] windows
      adamw.step(local, grad);
      model.setParameters(local);
      afterStep.accept(step + 1);
    }
    return lossSum;
  }
}
