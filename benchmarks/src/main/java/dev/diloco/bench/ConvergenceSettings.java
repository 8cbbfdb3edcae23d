package dev.diloco.bench;

import dev.diloco.schemas.Overlap;
import dev.diloco.worker.RunSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * {@code spec}: the run (model, batch, H, optimizers, seed); {@code rounds} x H = budget;
 * {@code evalWindows}: the held-out windows of the final losses (as many again, drawn with
 * another seed, choose the sweep's points); {@code threads}: sweep points trained at once.
 */
record ConvergenceSettings(String model, RunSpec spec, int workers, int rounds, Path data, Path out,
    List<Integer> sweepH, List<Integer> sweepK, boolean nonIid, Path init, int blockSize,
    List<Overlap> overlapArms, Set<String> only, Grids grids, int evalWindows,
    int threads, int warmStart) {

  /** The grids of the sweep; each arm is trained at every value of its own. */
  record Grids(List<Double> singleLr, List<Double> dataParallelLr, List<Double> outerLr) {
    Grids {
      for (List<Double> g : List.of(singleLr, dataParallelLr, outerLr)) {
        if (g.isEmpty() || g.stream().anyMatch(v -> !(v > 0) || v.isInfinite())) {
          throw new IllegalArgumentException("a sweep takes one or more learning rates > 0, got "
              + g);
        }
      }
    }
  }


  /** The arms every table compares against. */
  static final Set<String> REFERENCES = Set.of("single worker", "data-parallel",
      "DiLoCo FP16");

  ConvergenceSettings {
    if (workers < 2 || rounds < 1) {
      throw new IllegalArgumentException("the benchmark needs >= 2 workers and >= 1 round, got "
          + workers + " and " + rounds);
    }
    for (int h : sweepH) {
      if (h < 1 || (long) rounds * spec.innerSteps() % h != 0) {
        throw new IllegalArgumentException("each swept H must divide the budget of "
            + rounds * spec.innerSteps() + " inner steps, got " + h);
      }
    }
    for (int k : sweepK) {
      if (k < 2) {
        throw new IllegalArgumentException("each swept k must be >= 2 workers, got " + k);
      }
    }
    if (evalWindows < 2 * spec.batch() || evalWindows % spec.batch() != 0) {
      throw new IllegalArgumentException("eval windows must be a multiple of the batch ("
          + spec.batch() + ") and at least two batches, got " + evalWindows);
    }
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    }
    if (warmStart < 0) {
      throw new IllegalArgumentException("the warm start must be >= 0 steps, got "
          + warmStart);
    }
  }

  int budget() {
    return rounds * spec.innerSteps();
  }
}
