package dev.diloco.core.round;

import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.rules.CheckedSum;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.RoundCommit;

/**
 * The step from round r to r + 1: the {@link OuterStep} at the learning rate of that step,
 * applied chunk by chunk to the sums {@link RoundSums} chose. Every service that steps a round
 * calls this, and nothing else applies the outer step: the optimizer as each sum arrives, a
 * worker that steps from the sums instead of reading the weights, the replay, the eager
 * estimate of an overlapped worker, the reference DiLoCo and the benchmarks. Chunks are
 * disjoint and the step is element by element, so the order the chunks come in changes no bit.
 */
public record RoundStep(OuterStep rule, float learningRate) {

  public RoundStep {
    if (!(learningRate >= 0f) || Float.isInfinite(learningRate)) {
      throw new IllegalArgumentException("the outer learning rate must be a finite number >= 0, "
          + "got " + learningRate);
    }
  }

  /** The run's outer optimizer {@code outer} at {@code learningRate} (rounded to float). */
  public static RoundStep of(OuterOptimizerConfig outer, double learningRate) {
    return new RoundStep(OuterStep.of(outer), (float) learningRate);
  }

  /** The step that made {@code commit}'s round, as the commit records it. */
  public static RoundStep madeBy(RoundCommit commit) {
    return of(commit.getOuterOptimizer(), commit.getOuterLearningRate());
  }

  /**
   * Steps the elements of {@code range} of {@code theta} and {@code momentum} in place with the
   * average of a sum of {@code contributors} pseudo-gradients, {@code sum[0 .. range.count())}.
   */
  public void apply(ChunkRange range, double[] sum, int contributors, float[] theta,
      float[] momentum) {
    if (range.end() > theta.length || range.end() > momentum.length
        || sum.length < range.count()) {
      throw new IllegalArgumentException("chunk " + range.index() + " (elements " + range.offset()
          + " to " + range.end() + ") does not fit weights of " + theta.length + ", momentum of "
          + momentum.length + " and a sum of " + sum.length + " elements");
    }
    rule.apply(learningRate, sum, contributors, theta, momentum, (int) range.offset(),
        range.count());
  }

  /** Steps {@code sum}'s chunk of {@code theta} and {@code momentum} in place. */
  public void apply(CheckedSum sum, float[] theta, float[] momentum) {
    apply(sum.range(), sum.values(), sum.contributors(), theta, momentum);
  }

  /**
   * Steps every element with one average {@code mean} (as one contribution): a step of the
   * whole vector at once, as the eager estimate and the reference DiLoCo take it.
   */
  public void applyMean(double[] mean, float[] theta, float[] momentum) {
    apply(new ChunkRange(0, 0, theta.length), mean, 1, theta, momentum);
  }
}
