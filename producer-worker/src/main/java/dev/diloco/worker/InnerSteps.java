package dev.diloco.worker;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.tokens.Tokens;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;

/**
 * A worker's inner phase (DiLoCo, Algorithm 1, lines 4-7): H AdamW steps on its local weights,
 * each on a batch of windows of its own shard drawn from {@link ByteCorpus#stepRandom}(seed,
 * worker, round, step). The pipeline's {@link Worker} and the {@link DiLoCo} reference run this
 * one loop, so that they train the same bits. The AdamW moments carry over from round to round.
 */
public final class InnerSteps {

  private final LanguageModel model;
  private final AdamW adamw;
  private final Tokens shard;
  private final long seed;
  private final String workerId;
  private final int steps;

  /** H = {@code steps} steps of {@code model} with {@code adamw} on worker {@code workerId}'s shard. */
  public InnerSteps(LanguageModel model, AdamW adamw, byte[] shard, long seed, String workerId,
      int steps) {
    this(model, adamw, Tokens.of(shard), seed, workerId, steps);
  }

  /** As above, on tokens. */
  public InnerSteps(LanguageModel model, AdamW adamw, Tokens shard, long seed, String workerId,
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

  /** What a round's inner steps came to. */
  public sealed interface Outcome permits Trained, NonFinite {}

  /** The steps ran (all of them, unless stopped); {@code lossSum}: their losses summed. */
  public record Trained(double lossSum) implements Outcome {}

  /**
   * Inner step {@code step} (1-based) left the finite numbers, as {@code what} says, and the
   * steps ended there. The round's pseudo-gradient is no use, nor are the AdamW moments that
   * took in what went wrong: the worker leaves the round out and starts afresh ({@link Carried}).
   */
  public record NonFinite(int step, String what) implements Outcome {}

  /** The round's H steps on {@code local}, in place. */
  public Outcome run(int round, float[] local, float[] grad) {
    return run(round, local, grad, step -> { }, () -> false);
  }

  /**
   * As above; {@code afterStep} sees the number of each step done, and the loop ends early
   * when {@code stop} says so (checked before each step): a stopped round is half trained.
   */
  public Outcome run(int round, float[] local, float[] grad, IntConsumer afterStep,
      BooleanSupplier stop) {
    model.setParameters(local);
    double lossSum = 0;
    for (int step = 0; step < steps && !stop.getAsBoolean(); step++) {
      float loss = model.lossAndGradient(ByteCorpus.windows(shard, model.batch(),
          model.config().contextLength(), ByteCorpus.stepRandom(seed, workerId, round, step)),
          grad); // [B, T + 1] windows
      // Checked before the step: one non-finite gradient element makes the clipped norm's
      // scale 0 and every element NaN, and the moments keep it.
      String bad = !Float.isFinite(loss) ? "the loss is " + loss
          : nonFinite(grad, "the gradient of ", "");
      if (bad == null) {
        adamw.step(local, grad);
        bad = nonFinite(local, "", " after the step");
      }
      if (bad != null) {
        return new NonFinite(step + 1, bad);
      }
      lossSum += loss;
      model.setParameters(local);
      afterStep.accept(step + 1);
    }
    return new Trained(lossSum);
  }

  /** Where {@code values} first holds a NaN or an infinity, by tensor; null when nowhere. */
  private String nonFinite(float[] values, String before, String after) {
    for (int i = 0; i < values.length; i++) {
      if (!Float.isFinite(values[i])) {
        ParameterLayout.Tensor t = model.layout().tensorAt(i);
        return before + t.name() + "[" + (i - t.offset()) + "] is " + values[i] + after;
      }
    }
    return null;
  }
}
