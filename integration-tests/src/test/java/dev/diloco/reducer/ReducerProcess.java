package dev.diloco.reducer;

import dev.diloco.core.kafka.KafkaClientConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.streams.StreamsConfig;

/**
 * A reducer in a JVM of its own, so that a test can kill it with SIGKILL like a machine that
 * dies: {@code ReducerProcess BOOTSTRAP RUN STATE_DIR PARTITIONS}.
 */
public final class ReducerProcess {
  private ReducerProcess() {}

  public static void main(String[] args) throws InterruptedException {
    ReducerConfig config = new ReducerConfig(args[1], 1,
        ReducerConfig.DEFAULT_CHECK_EVERY, Integer.parseInt(args[3]));
    Reducer reducer = new Reducer(config, KafkaClientConfig.of(args[0]), Path.of(args[2]),
        new SimpleMeterRegistry(), Map.of(
            // The broker's shortest session: a killed instance's partitions move on sooner.
            StreamsConfig.consumerPrefix("session.timeout.ms"), 6000,
            StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1000));
    reducer.start(Duration.ofSeconds(60));
    System.out.println("RUNNING");
    new CountDownLatch(1).await(); // until killed
  }
}
