package dev.diloco.reducer;

import dev.diloco.core.kafka.KafkaClientConfig;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.streams.KafkaStreams;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The reducer of one run as a running Kafka Streams application. Several instances with the
 * same run id share the work (chunks spread over the pseudo-gradient topic's partitions) and
 * take over from one another.
 */
public final class Reducer implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Reducer.class);

  private final String runId;
  private final KafkaStreams streams;

  /** Counted down when the application runs, or dies before it does. */
  private final CountDownLatch settled = new CountDownLatch(1);
  private volatile boolean running;
  /** Counted down when the application stops on its own: a stream thread died. */
  private final CountDownLatch died = new CountDownLatch(1);
  private volatile Throwable failure;

  /** {@code overrides}: any Kafka Streams setting over the reducer's own. */
  public Reducer(ReducerConfig config, KafkaClientConfig clients, Path stateDir,
      MeterRegistry metrics, Map<String, ?> overrides) {
    this.runId = config.runId();
    Properties props = ReducerTopology.streamsConfig(config, clients, stateDir.toString());
    props.putAll(overrides);
    this.streams = new KafkaStreams(ReducerTopology.build(config, clients, metrics), props);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) {
        running = true;
        settled.countDown();
      }
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.PENDING_ERROR) {
        died.countDown();
        settled.countDown();
      }
    });
    streams.setUncaughtExceptionHandler(e -> {
      LOG.error("the reducer of run {} failed", config.runId(), e);
      failure = e;
      died.countDown();
      settled.countDown();
      // Not a half-alive process: the whole application stops, and the service exits.
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler
          .StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
  }

  /**
   * Starts, and waits until the application runs; fails when it dies first (its principal may
   * not read its topics, say) or {@code timeout} passes.
   */
  public void start(Duration timeout) {
    streams.start();
    try {
      if (!settled.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new IllegalStateException("the reducer did not start within " + timeout
            + " (state " + streams.state() + ")");
      }
      if (!running) {
        Throwable cause = awaitFailure(Duration.ZERO).orElse(null);
        throw new IllegalStateException("the reducer of run " + runId + " stopped while "
            + "starting: " + describe(cause), cause);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while starting", e);
    }
  }

  /**
   * Waits up to {@code timeout} for the application to die on its own (a stream thread's
   * uncaught error); returns the error, or empty while it runs.
   */
  public java.util.Optional<Throwable> awaitFailure(Duration timeout) throws InterruptedException {
    if (!died.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of(failure != null ? failure
        : new IllegalStateException("the reducer stopped in state " + streams.state()));
  }

  /** What went wrong, for one line: the error and, when it differs, its root cause. */
  public static String describe(Throwable failure) {
    if (failure == null) {
      return "no error was reported";
    }
    Throwable root = failure;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return root == failure ? failure.getMessage() : failure.getMessage() + " (caused by "
        + root.getClass().getSimpleName() + ": " + root.getMessage() + ")";
  }

  /** Stops processing, keeping the application's membership and state (for benchmarks). */
  public void pause() {
    streams.pause();
  }

  public void resume() {
    streams.resume();
  }

  /** The ids of the tasks this instance runs now (one per pseudo-gradient partition). */
  public java.util.Set<String> activeTasks() {
    java.util.Set<String> tasks = new java.util.TreeSet<>();
    streams.metadataForLocalThreads()
        .forEach(t -> t.activeTasks().forEach(task -> tasks.add(task.taskId().toString())));
    return tasks;
  }

  public KafkaStreams.State state() {
    return streams.state();
  }

  /**
   * Closes the application cleanly: its last work committed and its stores closed with their
   * offsets, so that a restart resumes from them rather than wiping and rebuilding them.
   */
  @Override
  public void close() {
    if (streams.close(Duration.ofSeconds(30))) {
      LOG.info("the reducer of run {} closed cleanly: its state is kept for a restart",
          runId);
    } else {
      LOG.warn("the reducer of run {} did not close within 30 s: a restart may rebuild its "
          + "state", runId);
    }
  }
}
