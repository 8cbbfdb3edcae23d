package dev.diloco.launcher.metrics;

import dev.diloco.optimizer.Outcome;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;

/**
 * What the outer optimizer's polls came to, as meters tagged with the run: rounds committed by
 * outcome, the time from one commit to the next, the newest round's number, contributors and
 * mean training loss, publications that aborted, and the records it refused by reason.
 */
public final class OptimizerMeters {

  private final Map<RoundOutcome, Counter> committed = new EnumMap<>(RoundOutcome.class);
  private final Timer roundTime;
  private final Counter aborted;
  private final Map<DeadLetterReason, Counter> deadLetters =
      new EnumMap<>(DeadLetterReason.class);
  private final MeterRegistry registry;
  private final String runId;
  private volatile RoundCommit newest;

  public OptimizerMeters(MeterRegistry registry, String runId) {
    this.registry = registry;
    this.runId = runId;
    for (RoundOutcome outcome : RoundOutcome.values()) {
      if (outcome != RoundOutcome.UNKNOWN) {
        committed.put(outcome, Counter.builder("diloco.rounds.committed").tag("run", runId)
            .tag("outcome", outcome.name().toLowerCase(java.util.Locale.ROOT))
            .description("Rounds the optimizer committed, by outcome").register(registry));
      }
    }
    roundTime = Timer.builder("diloco.round").tag("run", runId)
        .description("From one round's commit to the next's").register(registry);
    aborted = Counter.builder("diloco.optimizer.aborted").tag("run", runId)
        .description("Round publications that aborted and were read again").register(registry);
    Gauge.builder("diloco.committed.round", this, m -> m.newest == null ? -1
            : m.newest.getRound()).tag("run", runId)
        .description("The newest committed round").strongReference(true).register(registry);
    Gauge.builder("diloco.round.contributors", this, m -> m.newest == null ? 0
            : m.newest.getContributors().size()).tag("run", runId)
        .description("Workers whose pseudo-gradients the newest round's step averaged")
        .strongReference(true).register(registry);
    Gauge.builder("diloco.round.train.loss", this, m -> m.newest == null ? Double.NaN
            : m.newest.getContributors().stream().mapToDouble(Contribution::getMeanInnerLoss)
                .average().orElse(Double.NaN)).tag("run", runId)
        .description("Mean over contributors of their inner-step training loss, newest round")
        .strongReference(true).register(registry);
  }

  /**
   * The optimizer opened the run: {@code opened} is what {@link OuterOptimizer#open} returned
   * (round 0 published, or nothing when it resumed), {@code newest} its newest commit then.
   */
  public void opened(Outcome opened, RoundCommit newest) {
    record(opened);
    this.newest = newest;
  }

  /** What one poll did. */
  public void record(Outcome polled) {
    if (polled instanceof Outcome.Committed p) {
      committed(p.commit());
      p.deadLetters().forEach((reason, count) -> deadLetters.computeIfAbsent(reason,
          r -> Counter.builder("diloco.optimizer.dead.letters").tag("run", runId)
              .tag("reason", r.name())
              .description("Records the optimizer sent to the dead-letter topic, by reason")
              .register(registry)).increment(count));
    } else if (polled instanceof Outcome.Aborted) {
      aborted.increment();
    }
  }

  private void committed(RoundCommit commit) {
    Counter c = committed.get(commit.getOutcome());
    if (c != null) {
      c.increment();
    }
    RoundCommit previous = newest;
    if (previous != null && previous.getRound() == commit.getRound() - 1) {
      roundTime.record(Duration.ofMillis(Math.max(0,
          commit.getCommittedAtMs() - previous.getCommittedAtMs())));
    }
    newest = commit;
  }
}
