package dev.diloco.launcher.metrics;

import dev.diloco.schemas.RoundStats;
import dev.diloco.worker.RoundReport;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What workers measured of each round they published, as meters tagged with the run and the
 * worker: a worker's own ({@code diloco worker}) or every worker's from their reports on the
 * membership topic ({@code diloco run}). Gauges hold the latest round's value; counters and
 * timers add up over rounds, for Prometheus's {@code rate()}.
 */
public final class WorkerMeters {

  private final MeterRegistry registry;
  private final String runId;
  private final Map<String, One> workers = new ConcurrentHashMap<>();

  public WorkerMeters(MeterRegistry registry, String runId) {
    this.registry = registry;
    this.runId = runId;
  }

  /** Worker {@code worker} published round {@code r.round()}, having measured {@code r}. */
  public void record(String worker, RoundReport r) {
    workers.computeIfAbsent(worker, this::register).record(r);
  }

  /** The same, from the report a worker sends with its heartbeat. */
  public void record(String worker, RoundStats s) {
    record(worker, new RoundReport(s.getRound(), s.getMeanInnerLoss(), s.getEvalLoss(),
        s.getTokensPerSecond(), s.getBytesPublished(), s.getBytesReceived(),
        s.getComputeSeconds(), s.getWaitSeconds(), false));
  }

  private One register(String worker) {
    return new One(registry, Tags.of("run", runId, "worker", worker));
  }

  /** One worker's meters and its latest report, which the gauges read. */
  private static final class One {
    private volatile RoundReport last;
    private final Counter rounds;
    private final Counter tokens;
    private final Counter sent;
    private final Counter received;
    private final Timer compute;
    private final Timer wait;

    One(MeterRegistry registry, Tags tags) {
      rounds = Counter.builder("diloco.worker.rounds").tags(tags)
          .description("Rounds the worker trained and published").register(registry);
      tokens = Counter.builder("diloco.worker.tokens").tags(tags)
          .description("Tokens the worker trained on").register(registry);
      sent = Counter.builder("diloco.worker.sent").baseUnit("bytes").tags(tags)
          .description("Bytes of pseudo-gradient chunks the worker published").register(registry);
      received = Counter.builder("diloco.worker.received").baseUnit("bytes").tags(tags)
          .description("Bytes of weights the worker read").register(registry);
      compute = Timer.builder("diloco.worker.compute").tags(tags)
          .description("Time a round's inner steps took").register(registry);
      wait = Timer.builder("diloco.worker.wait").tags(tags)
          .description("Time a round's training waited on communication").register(registry);
      gauge(registry, "diloco.worker.round", tags, "The newest round the worker published",
          r -> r.round());
      gauge(registry, "diloco.worker.tokens.per.second", tags,
          "Training throughput in the newest round", RoundReport::tokensPerSecond);
      Gauge.builder("diloco.worker.compute.utilisation", this,
              o -> o.last == null ? Double.NaN : o.last.computeUtilisation())
          .baseUnit("ratio").tags(tags)
          .description("Share of the newest round spent computing rather than waiting")
          .strongReference(true).register(registry);
      gauge(registry, "diloco.worker.train.loss", tags,
          "Mean inner-step training loss in the newest round", r -> r.meanInnerLoss());
      gauge(registry, "diloco.worker.eval.loss", tags,
          "Eval loss of the worker's weights after the newest round", r -> r.evalLoss());
    }

    private void gauge(MeterRegistry registry, String name, Tags tags, String description,
        java.util.function.ToDoubleFunction<RoundReport> value) {
      Gauge.builder(name, this, o -> o.last == null ? Double.NaN : value.applyAsDouble(o.last))
          .tags(tags).description(description).strongReference(true).register(registry);
    }

    void record(RoundReport r) {
      last = r;
      rounds.increment();
      tokens.increment(r.tokensPerSecond() * r.computeSeconds());
      sent.increment(Math.max(0, r.bytesPublished()));
      received.increment(Math.max(0, r.bytesReceived()));
      compute.record(seconds(r.computeSeconds()));
      wait.record(seconds(r.waitSeconds()));
    }

    private static Duration seconds(double s) {
      return Duration.ofNanos(Math.round(Math.max(0, s) * 1e9));
    }
  }
}
