package dev.diloco.launcher.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.optimizer.Outcome;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import dev.diloco.schemas.RoundStats;
import dev.diloco.worker.RoundReport;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The services' meters, from values worked out by hand. */
class MetersTest {

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @Test
  void aWorkersGaugesHoldItsNewestRoundAndItsCountersAddUp() {
    WorkerMeters meters = new WorkerMeters(registry, "r");
    // 2,000 tokens/s for 1.5 s of compute and 0.5 s of wait: 3,000 tokens, 75% utilisation.
    meters.record("w0", new RoundReport(0, 3.5f, 3.25f, 2000, 100, 400, 1.5, 0.5, true));
    meters.record("w0", new RoundReport(1, 2.5f, 2.25f, 1000, 100, -1, 3.0, 1.0, false));
    meters.record("w1", new RoundStats(1, 2.0f, 1.75f, 500.0, 7L, 2.0, 0.0, 9L));

    assertThat(gauge("diloco.worker.round", "w0")).isEqualTo(1);
    assertThat(gauge("diloco.worker.train.loss", "w0")).isEqualTo(2.5);
    assertThat(gauge("diloco.worker.eval.loss", "w0")).isEqualTo(2.25);
    assertThat(gauge("diloco.worker.tokens.per.second", "w0")).isEqualTo(1000);
    assertThat(gauge("diloco.worker.compute.utilisation", "w0")).isEqualTo(0.75);
    assertThat(counter("diloco.worker.rounds", "w0")).isEqualTo(2);
    assertThat(counter("diloco.worker.tokens", "w0")).isEqualTo(3000 + 3000);
    assertThat(counter("diloco.worker.sent", "w0")).isEqualTo(200);
    assertThat(counter("diloco.worker.received", "w0")).as("an unknown count adds nothing")
        .isEqualTo(400);
    assertThat(registry.get("diloco.worker.wait").tag("worker", "w0").timer()
        .totalTime(java.util.concurrent.TimeUnit.MILLISECONDS)).isEqualTo(1500);
    // From a heartbeat's report: the same meters, for another worker.
    assertThat(gauge("diloco.worker.compute.utilisation", "w1")).isEqualTo(1.0);
    assertThat(counter("diloco.worker.tokens", "w1")).isEqualTo(1000);
    assertThat(counter("diloco.worker.received", "w1")).isEqualTo(9);
  }

  @Test
  void theOptimizerCountsCommitsByOutcomeAndTimesOneCommitToTheNext() {
    OptimizerMeters meters = new OptimizerMeters(registry, "r");
    ChunkPlan plan = new ChunkPlan(10, 10);
    RoundCommit round0 = TestRuns.commit("r", 0, plan, 1_000);
    meters.opened(new Outcome.Committed(round0, Map.of()), round0);
    RoundCommit round1 = RoundCommit.newBuilder(TestRuns.commit("r", 1, plan, 3_500))
        .setContributors(List.of(new Contribution("a", 10L, 5, 2.0f),
            new Contribution("b", 10L, 5, 3.0f))).build();
    // Round 1 went out with three refused records: two of another run, one malformed.
    meters.record(new Outcome.Committed(round1, Map.of(DeadLetterReason.RUN_MISMATCH, 2,
        DeadLetterReason.MALFORMED_RECORD, 1)));
    meters.record(new Outcome.Idle());
    meters.record(new Outcome.Aborted(2, new IllegalStateException("x")));
    meters.record(new Outcome.Committed(RoundCommit.newBuilder(TestRuns.commit("r", 2,
        plan, 4_000)).setOutcome(RoundOutcome.REPUBLISHED).build(),
        Map.of(DeadLetterReason.RUN_MISMATCH, 1)));

    assertThat(registry.get("diloco.rounds.committed").tag("outcome", "initial").counter()
        .count()).isEqualTo(1);
    assertThat(registry.get("diloco.rounds.committed").tag("outcome", "stepped").counter()
        .count()).isEqualTo(1);
    assertThat(registry.get("diloco.rounds.committed").tag("outcome", "republished").counter()
        .count()).isEqualTo(1);
    assertThat(registry.get("diloco.optimizer.aborted").counter().count()).isEqualTo(1);
    assertThat(registry.get("diloco.optimizer.dead.letters").tag("reason", "RUN_MISMATCH")
        .counter().count()).isEqualTo(3);
    assertThat(registry.get("diloco.optimizer.dead.letters").tag("reason", "MALFORMED_RECORD")
        .counter().count()).isEqualTo(1);
    assertThat(registry.find("diloco.optimizer.dead.letters").counters()).hasSize(2);
    var rounds = registry.get("diloco.round").timer();
    assertThat(rounds.count()).isEqualTo(2);
    assertThat(rounds.totalTime(java.util.concurrent.TimeUnit.MILLISECONDS)).isEqualTo(3000);
    assertThat(registry.get("diloco.committed.round").gauge().value()).isEqualTo(2);
    assertThat(registry.get("diloco.round.contributors").gauge().value()).isZero();
    meters.opened(new Outcome.Idle(), round1); // resumed: its newest, uncounted
    assertThat(registry.get("diloco.round.train.loss").gauge().value()).isEqualTo(2.5);
    assertThat(registry.get("diloco.round.contributors").gauge().value()).isEqualTo(2);
    assertThat(registry.get("diloco.rounds.committed").tag("outcome", "stepped").counter()
        .count()).isEqualTo(1);
  }

  private double gauge(String name, String worker) {
    return registry.get(name).tag("run", "r").tag("worker", worker).gauge().value();
  }

  private double counter(String name, String worker) {
    return registry.get(name).tag("run", "r").tag("worker", worker).counter().count();
  }
}
