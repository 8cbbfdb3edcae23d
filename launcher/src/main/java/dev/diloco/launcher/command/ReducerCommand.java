package dev.diloco.launcher.command;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.log.RoundLog;
import dev.diloco.launcher.options.DirectoryPath;
import dev.diloco.launcher.options.Durations;
import dev.diloco.launcher.options.MetricsOptions;
import dev.diloco.launcher.options.RunOptions;
import dev.diloco.reducer.Reducer;
import dev.diloco.reducer.ReducerConfig;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.core.instrument.logging.LoggingMeterRegistry;
import io.micrometer.core.instrument.logging.LoggingRegistryConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.streams.StreamsConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code diloco reducer}: the reducer of one run, as its own process. */
@Command(
    name = "reducer",
    mixinStandardHelpOptions = true,
    description = {
        "Runs the reducer of a run against a Kafka cluster: sums the workers' pseudo-gradient "
            + "chunks exactly, once each, and writes one sum per chunk when every member of the "
            + "round has contributed, or at the round's deadline when a quorum has. Bad chunks "
            + "go to the dead-letter topic with their reason.",
        "Start several with the same --run to share the work; each takes over from the others "
            + "if they die. Runs until Ctrl-C or SIGTERM."})
public final class ReducerCommand implements Callable<Integer> {

  @Mixin
  RunOptions run;

  @Option(names = "--quorum", defaultValue = "1", paramLabel = "N",
      description = "Fewest contributors a sum may have at the deadline (default: ${DEFAULT-VALUE}).")
  int quorum;

  /** Moved to the run's description: said, not silently dropped, to whoever still gives it. */
  @Option(names = "--round-timeout", hidden = true, converter = Moved.class)
  Duration roundTimeout;

  @Option(names = "--own-topics-only",
      description = "Count as a round's members only the workers that announce themselves on "
          + "topics of their own (a cluster with ACLs: diloco acls): a JOIN on the shared "
          + "membership topic, which any worker may write for a worker that does not exist, "
          + "then holds no round.")
  boolean ownTopicsOnly;

  @Option(names = "--member-grace", paramLabel = "DURATION",
      defaultValue = ReducerConfig.DEFAULT_MEMBER_GRACE_SECONDS + "s",
      converter = Durations.class,
      description = "How long, at the least, a sum that has its quorum waits for a member that "
          + "has sent nothing this round (a worker gone, a forged join) before the deadline "
          + "(default: ${DEFAULT-VALUE}).")
  Duration memberGrace;

  @Option(names = "--max-chunk-norm", defaultValue = "auto", paramLabel = "auto|none|NORM",
      description = "Reject a contribution beyond a bound (a diverged or malicious worker): "
          + "'auto' bounds every value by what H inner AdamW steps at the run's learning rate "
          + "can do, with room (default); 'none'; or a bound on each chunk's L2 norm.")
  String maxChunkNorm;

  /** The bound as {@link ReducerConfig} takes it. */
  private double chunkNormBound() {
    return switch (maxChunkNorm) {
      case "auto" -> ReducerConfig.AUTO_NORM;
      case "none" -> 0;
      default -> {
        double norm;
        try {
          norm = Double.parseDouble(maxChunkNorm);
        } catch (NumberFormatException e) {
          norm = Double.NaN;
        }
        if (!(norm > 0) || Double.isInfinite(norm)) {
          throw new IllegalArgumentException("--max-chunk-norm takes auto, none or a positive "
              + "number, got '" + maxChunkNorm + "'");
        }
        yield norm;
      }
    };
  }

  @Option(names = "--state-dir", defaultValue = "runs/reducer-state", paramLabel = "DIR",
      converter = DirectoryPath.class,
      description = "Local state of the reducer (default: ${DEFAULT-VALUE}).")
  Path stateDir;

  @Option(names = "--instance-id", paramLabel = "ID",
      description = "A stable id for this reducer instance, unique among the run's reducers "
          + "(Kafka's static group membership): restarted with the same id, it takes its "
          + "partitions back at once instead of after the group's session timeout (45 s).")
  String instanceId;

  @Option(names = "--metrics-every", defaultValue = "60s", paramLabel = "DURATION",
      converter = Durations.class,
      description = "How often the meters are written to the log (default: ${DEFAULT-VALUE}).")
  Duration metricsEvery;

  @Mixin
  MetricsOptions metrics;

  @Override
  public Integer call() throws InterruptedException {
    KafkaClientConfig clients = run.clients();
    String runId = run.runId();
    RoundLog.requireReady(clients, run.topics());
    String topic = run.topics().pseudoGradients();
    int partitions = Topics.partitions(clients, topic);
    ReducerConfig config = new ReducerConfig(runId, quorum, ReducerConfig.DEFAULT_CHECK_EVERY,
        partitions, chunkNormBound(), memberGrace, ownTopicsOnly);
    LoggingMeterRegistry logged = new LoggingMeterRegistry(new LoggingRegistryConfig() {
      @Override
      public String get(String key) {
        return null;
      }

      @Override
      public Duration step() {
        return metricsEvery;
      }
    }, io.micrometer.core.instrument.Clock.SYSTEM);
    CountDownLatch stop = new CountDownLatch(1);
    CountDownLatch closed = new CountDownLatch(1);
    // On SIGTERM, close the application (its state is checkpointed, so a restart does not
    // rebuild it) before the JVM goes.
    Thread hook = new Thread(() -> {
      stop.countDown();
      try {
        closed.await(60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "reducer-shutdown");
    Map<String, String> streams = instanceId == null ? Map.of()
        : Map.of(StreamsConfig.consumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG),
            instanceId);
    MetricsOptions.Served served = metrics.serve(run.topics(), "reducer");
    CompositeMeterRegistry meters = new CompositeMeterRegistry().add(logged)
        .add(served.registry());
    try (served; Reducer reducer = new Reducer(config, clients, stateDir, meters, streams)) {
      Runtime.getRuntime().addShutdownHook(hook);
      reducer.start(Duration.ofMinutes(5));
      System.out.printf("reducer of run %s running on %d partitions%n", runId, partitions);
      while (!stop.await(1, TimeUnit.SECONDS)) {
        var failed = reducer.awaitFailure(Duration.ZERO);
        if (failed.isPresent()) {
          throw new IllegalStateException("the reducer of run " + runId + " stopped: "
              + Reducer.describe(failed.get()), failed.get());
        }
      }
    } finally {
      logged.close();
      closed.countDown();
    }
    return 0;
  }

  /** Refuses the reducer's old --round-timeout, saying where it went. */
  static final class Moved implements picocli.CommandLine.ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
      throw new picocli.CommandLine.TypeConversionException("the round timeout is the run's, in "
          + "its description: set it when the run starts (diloco optimizer --start "
          + "--round-timeout " + value + "); every reducer and the optimizer read it from there");
    }
  }
}
