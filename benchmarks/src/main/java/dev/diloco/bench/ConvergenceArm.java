package dev.diloco.bench;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.worker.EvalSet;
import java.util.List;

/**
 * One arm: eval loss at each point of {@code steps} (inner steps per worker, on the curve's
 * few windows), the final loss on the held-out set ({@code test}), and its cost.
 * {@code learningRate}: the swept rate it ran at (inner for the local arms, outer for DiLoCo).
 */
record ConvergenceArm(String name, int workers, int h, PayloadFormat format, boolean feedback,
    double learningRate, List<Integer> steps, List<Double> evalLoss, EvalSet.Measured test,
    float[] weights, long bytesUpPerWorker, long bytesDownPerWorker, double seconds) {
  double finalLoss() {
    return test.mean();
  }

  long bytesPerWorker() {
    return bytesUpPerWorker + bytesDownPerWorker;
  }

  /**
   * A single-worker or data-parallel point as an arm ({@code k} workers, {@code test} its
   * final loss): a data-parallel worker sends its FP32 gradient of {@code params} each of the
   * {@code budget} steps and receives the mean.
   */
  static ConvergenceArm local(Sweep.Point p, int k, EvalSet.Measured test, long params,
      int budget) {
    long perStep = k == 1 ? 0 : 4L * params;
    InProcessArms.Trained t = p.trained();
    return new ConvergenceArm(p.arm(), k, 1, PayloadFormat.FP32, false, p.learningRate(),
        t.steps(), t.curve(), test, t.weights(), perStep * budget, perStep * budget,
        t.seconds());
  }

  /** An in-process DiLoCo point as an arm; its bytes are the pipeline's, so not counted. */
  static ConvergenceArm inProcess(Sweep.Point p, int k, int h, EvalSet.Measured test) {
    InProcessArms.Trained t = p.trained();
    return new ConvergenceArm(p.arm(), k, h, PayloadFormat.FP16, false, p.learningRate(),
        t.steps(), t.curve(), test, t.weights(), 0, 0, t.seconds());
  }
}
