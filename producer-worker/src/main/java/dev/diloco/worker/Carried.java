package dev.diloco.worker;

import dev.diloco.core.codec.ErrorFeedback;
import java.nio.file.Path;

/**
 * What a worker carries from one round to the next besides the weights (DiLoCo keeps each
 * worker's inner optimizer state): its AdamW moments and step count and, in a run with error
 * feedback, what the codec left out of its last Δ. Saved to its {@link StateDir} and taken up
 * from it; started afresh when its inner steps went non-finite.
 */
final class Carried {

  private final AdamW adamw;
  /** What the codec left out of the last pseudo-gradient (null: the run sends it as it is). */
  private final ErrorFeedback feedback;

  Carried(AdamW adamw, ErrorFeedback feedback) {
    this.adamw = adamw;
    this.feedback = feedback;
  }

  boolean hasResidual() {
    return feedback != null;
  }

  /** Δ plus what the codec left out of the last one, in a run with error feedback. */
  void compensate(float[] delta) {
    if (feedback != null) {
      feedback.compensate(delta);
    }
  }

  /** The state after round {@code round}, whose Δ is {@code delta}, as it is saved. */
  StateDir.Saved saved(int round, float[] delta, float meanLoss, float[] nextStart) {
    return new StateDir.Saved(round, adamw.state(), feedback == null ? null
        : feedback.residual(), delta, meanLoss, nextStart);
  }

  /** Takes up {@code s}, read from {@code dir}: saved with a residual only in a run with one. */
  void restore(StateDir.Saved s, Path dir, String runId) {
    if ((feedback != null) != (s.residual() != null)) {
      throw new IllegalStateException("worker state in " + dir + " was saved "
          + (s.residual() == null ? "without" : "with") + " an error-feedback residual; run "
          + runId + (feedback == null ? " has none" : " has error feedback"));
    }
    adamw.restore(s.inner());
    if (feedback != null) {
      feedback.restore(s.residual());
    }
  }

  /** After non-finite inner steps: fresh moments (the step count goes on) and no residual. */
  void reset() {
    adamw.resetMoments();
    if (feedback != null) {
      feedback.reset();
    }
  }
}
