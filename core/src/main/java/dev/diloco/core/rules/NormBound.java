package dev.diloco.core.rules;

import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.InnerOptimizerConfig;
import dev.diloco.schemas.ModelDescription;

/**
 * How large a pseudo-gradient chunk may be: a bound on every value ({@code maxElement}) and on
 * the chunk's L2 norm ({@code maxNorm}); 0 for no bound. A single chunk of huge values would
 * otherwise throw the weights so far that every later pseudo-gradient is NaN.
 *
 * <p>{@link #of(ModelDescription)} derives the element bound from the run's own settings: one
 * AdamW step moves a weight by at most about lr·max(1, (1−β1)/√(1−β2)) (Kingma and Ba 2015,
 * section 2.1), plus the decoupled decay lr·wd·|θ|; H steps by H times that, with |θ| taken as
 * at most 10. {@link #ROOM} times this is the bound. Measured on Tiny Shakespeare with the tiny
 * model (H 50, lr 3e-3, H·lr = 0.15): the largest value of an honest pseudo-gradient was 0.135,
 * against a bound of 1.2.
 */
public record NormBound(double maxElement, double maxNorm) {

  public static final NormBound NONE = new NormBound(0, 0);

  /** How far above what H honest AdamW steps can do the derived bound lies. */
  public static final double ROOM = 4;

  /** The most |θ| the derived bound allows for the decoupled decay's share. */
  private static final double WEIGHT_SCALE = 10;

  public NormBound {
    if (!(maxElement >= 0) || Double.isInfinite(maxElement) || !(maxNorm >= 0)
        || Double.isInfinite(maxNorm)) {
      throw new IllegalArgumentException("bounds must be finite and >= 0 (0: none), got "
          + maxElement + " per value and " + maxNorm + " per chunk");
    }
  }

  /** A bound on each chunk's L2 norm alone, as an operator sets it. */
  public static NormBound ofNorm(double maxNorm) {
    return new NormBound(0, maxNorm);
  }

  /** The bound an honest worker of {@code run} cannot reach; none if the run says too little. */
  public static NormBound of(ModelDescription run) {
    InnerOptimizerConfig inner = run.getInnerOptimizer();
    double adam = Math.max(1, (1 - inner.getBeta1()) / Math.sqrt(1 - inner.getBeta2()));
    double perStep = inner.getLearningRate()
        * (adam + inner.getWeightDecay() * WEIGHT_SCALE);
    double bound = ROOM * run.getInnerSteps() * perStep;
    return bound > 0 && Double.isFinite(bound) ? new NormBound(bound, 0) : NONE;
  }

  public boolean none() {
    return maxElement == 0 && maxNorm == 0;
  }

  /** Throws NORM_BOUND_EXCEEDED, saying why, unless {@code values[0 .. count)} keep the bound. */
  void require(float[] values, int count) {
    double squares = 0;
    for (int i = 0; i < count; i++) {
      float v = values[i];
      if (maxElement > 0 && Math.abs(v) > maxElement) {
        throw new ChunkRejectedException(DeadLetterReason.NORM_BOUND_EXCEEDED, "element " + i
            + " of the chunk is " + v + ", beyond the bound " + maxElement + " on every value");
      }
      squares += (double) v * v;
    }
    double norm = Math.sqrt(squares);
    if (maxNorm > 0 && norm > maxNorm) {
      throw new ChunkRejectedException(DeadLetterReason.NORM_BOUND_EXCEEDED, "the chunk's L2 "
          + "norm is " + norm + ", above the bound " + maxNorm);
    }
  }
}
