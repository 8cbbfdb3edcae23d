package dev.diloco.core.rules;

import dev.diloco.core.layout.ChunkRange;
import dev.diloco.schemas.ReducedChunk;

/**
 * A reducer's sum that passed every check: the elements it covers and its values
 * ({@code values[0 .. range.count()}), valid until the rules' next check), all finite.
 */
public record CheckedSum(ReducedChunk sum, ChunkRange range, double[] values) {

  /** How many pseudo-gradients the sum adds up: what the optimizer divides by. */
  public int contributors() {
    return sum.getContributors().size();
  }
}
