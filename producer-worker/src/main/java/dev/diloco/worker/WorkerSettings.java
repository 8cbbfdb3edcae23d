package dev.diloco.worker;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.WireBounds;
import dev.diloco.schemas.PseudoGradientChunk;
import java.nio.file.Path;
import java.time.Duration;

/** What the worker does each round. */
public record WorkerSettings(String runId, String workerId, int innerSteps, AdamW.Config inner,
    PayloadFormat format, long seed, int evalBatches, Duration roundTimeout, Path stateDir) {

  /** Settings of a worker that keeps its state in memory only. */
  public WorkerSettings(String runId, String workerId, int innerSteps, AdamW.Config inner,
      PayloadFormat format, long seed, int evalBatches, Duration roundTimeout) {
    this(runId, workerId, innerSteps, inner, format, seed, evalBatches, roundTimeout, null);
  }

  public WorkerSettings {
    new RunTopics(runId);
    if (workerId == null || workerId.isBlank()) {
      throw new IllegalArgumentException("a worker needs an id");
    }
    WireBounds.requireFits(PseudoGradientChunk.SCHEMA$, "workerId", workerId, "worker id");
    if (innerSteps < 1) {
      throw new IllegalArgumentException("inner steps must be >= 1, got " + innerSteps);
    }
    if (evalBatches < 1) {
      throw new IllegalArgumentException("eval batches must be >= 1, got " + evalBatches);
    }
  }
}
