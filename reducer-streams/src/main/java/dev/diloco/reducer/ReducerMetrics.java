package dev.diloco.reducer;

import dev.diloco.schemas.DeadLetterReason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.Set;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** What the reducer measures, as Micrometer meters named {@code diloco.reducer.*}. */
final class ReducerMetrics {

  final Counter inputBytes;
  final Counter chunksSummed;
  final Counter sumsEmitted;
  /** From the producer time of a sum's newest contribution to the sum's emission. */
  final Timer sumLatency;
  private final Map<DeadLetterReason, Counter> rejections = new EnumMap<>(DeadLetterReason.class);
  private final MeterRegistry registry;
  private final String runId;
  private int openRound = -1;
  private final Set<String> contributors = new HashSet<>();

  ReducerMetrics(MeterRegistry registry, String runId) {
    this.registry = registry;
    this.runId = runId;
    this.inputBytes = Counter.builder("diloco.reducer.input.bytes").baseUnit("bytes")
        .description("Bytes of pseudo-gradient chunk records read").tag("run", runId)
        .register(registry);
    this.chunksSummed = Counter.builder("diloco.reducer.chunks.summed")
        .description("Chunks added to a sum").tag("run", runId).register(registry);
    this.sumsEmitted = Counter.builder("diloco.reducer.sums.emitted")
        .description("Reduced chunks written").tag("run", runId).register(registry);
    this.sumLatency = Timer.builder("diloco.reducer.sum.latency")
        .description("From a sum's last contribution (producer time) to its emission")
        .tag("run", runId).register(registry);
    Gauge.builder("diloco.reducer.open.round", this, m -> m.openRound).tag("run", runId)
        .description("The newest round a chunk was summed for").strongReference(true).register(registry);
    Gauge.builder("diloco.reducer.open.round.contributors", this, ReducerMetrics::contributors)
        .tag("run", runId).description("Workers with a chunk summed in the newest round")
        .strongReference(true).register(registry);
  }

  private synchronized int contributors() {
    return contributors.size();
  }

  void rejected(DeadLetterReason reason) {
    rejections.computeIfAbsent(reason, r -> Counter.builder("diloco.reducer.dead.letters")
        .description("Chunks sent to the dead-letter topic, by reason")
        .tag("run", runId).tag("reason", r.name()).register(registry)).increment();
  }

  /**
   * {@code worker}'s chunk of {@code round} was summed: the open round's contributors, as far
   * as this instance's tasks see them (each sums some of the chunks).
   */
  synchronized void contributed(int round, String worker) {
    if (round > openRound) {
      openRound = round;
      contributors.clear();
    }
    if (round == openRound) {
      contributors.add(worker);
    }
  }

  void emitted(long newestContributionMs, long now) {
    sumsEmitted.increment();
    sumLatency.record(Math.max(0, now - newestContributionMs), TimeUnit.MILLISECONDS);
  }
}
