package dev.diloco.reducer;

import dev.diloco.schemas.DeadLetterReason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.EnumMap;
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
  }

  void rejected(DeadLetterReason reason) {
    rejections.computeIfAbsent(reason, r -> Counter.builder("diloco.reducer.rejections")
        .description("Chunks sent to the dead-letter topic, by reason")
        .tag("run", runId).tag("reason", r.name()).register(registry)).increment();
  }

  void emitted(long newestContributionMs, long now) {
    sumsEmitted.increment();
    sumLatency.record(Math.max(0, now - newestContributionMs), TimeUnit.MILLISECONDS);
  }
}
