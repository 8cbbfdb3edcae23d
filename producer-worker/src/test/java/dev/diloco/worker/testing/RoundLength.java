package dev.diloco.worker.testing;

import dev.diloco.worker.AdamW;
import dev.diloco.worker.BuiltInCorpus;
import dev.diloco.worker.InnerSteps;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import java.time.Duration;

/**
 * For broker tests whose premise is a round's length (an attack lands while its round is open,
 * the next weights arrive before a worker needs them): inner steps measured on the machine the
 * test runs on, not fixed. A fixed H fell below what such tests need each time the model got
 * faster.
 */
public final class RoundLength {
  private RoundLength() {}

  /**
   * Inner steps of {@code model} at {@code batch}, as a worker takes them (forward, backward,
   * AdamW), that take {@code round} here alone, and at least {@code atLeast}. A worker beside
   * other processes takes longer, which such tests allow for.
   */
  public static int innerSteps(ModelConfig model, int batch, Duration round, int atLeast) {
    LanguageModel m = LanguageModel.of(model, batch, 1);
    AdamW adamw = new AdamW(AdamW.Config.OPENDILOCO, m.layout());
    int steps = 100;
    InnerSteps inner = new InnerSteps(m, adamw, BuiltInCorpus.generate(1 << 14, 1), 1,
        "calibration", steps);
    float[] local = new float[(int) m.layout().totalElements()];
    m.parameters(local);
    float[] gradient = new float[local.length];
    inner.run(0, local, gradient); // the JIT first
    long t0 = System.nanoTime();
    inner.run(1, local, gradient);
    double perStep = (System.nanoTime() - t0) / (double) steps;
    return Math.max(atLeast, (int) Math.ceil(round.toNanos() / perStep));
  }
}
