package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.diloco.broker.EmbeddedKafkaBroker;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.schemas.WorkerHeartbeat;
import dev.diloco.worker.AdamW;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.RunSpec;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A worker started before its run waits for it; SIGTERM ends a worker within a bound whatever
 * the cluster's state, and it says what it lost.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
@ExtendWith(NoProcessLeftBehind.class)
class WorkerStopIntegrationTest {

  private static final String RUN = "stop";

  @TempDir
  Path dir;

  @Test
  void aWorkerStartedBeforeItsRunWaitsAndOneWhoseBrokerIsGoneStopsWithinTenSeconds()
      throws Exception {
    List<Process> started = new ArrayList<>();
    EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.builder().logDir(dir.resolve("kafka"))
        .start();
    try {
      String bootstrap = broker.bootstrapServers();
      KafkaClientConfig clients = KafkaClientConfig.of(bootstrap);
      RunTopics topics = new RunTopics(RUN);
      assertThat(Cli.run(new StringWriter(), new StringWriter(), "topics", "create", "--run",
          RUN, "--bootstrap-servers", bootstrap)).isZero();
      // Started before its run: it waits (a bounded wait, said once), then trains.
      Process worker = start(bootstrap, "worker", "--worker-id", "w0");
      started.add(worker);
      await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(dir.resolve("worker.log"))
          && Files.readString(dir.resolve("worker.log")).contains("run " + RUN + " has not "
              + "started yet (no model description on diloco." + RUN + ".model): waiting up to "
              + "10m for its optimizer"));
      StringWriter gaveUp = new StringWriter();
      assertThat(Cli.run(new StringWriter(), gaveUp, "worker", "--run", RUN,
          "--bootstrap-servers", bootstrap, "--wait-for-run", "1s")).isEqualTo(1);
      assertThat(gaveUp.toString()).contains("run " + RUN + " has not started within 1s: no "
          + "model description on diloco." + RUN + ".model (start its optimizer with --start)");
      // Round 0 of a run of long rounds, published from here: the worker is what is tested.
      RunSpec spec = new RunSpec(RUN, ModelConfig.preset("tiny"), 8, 400,
          AdamW.Config.OPENDILOCO, OuterStep.dilocoConfig(), PayloadFormat.FP16, false, 1,
          65_536);
      LanguageModel model = spec.newModel();
      float[] weights = new float[Math.toIntExact(model.layout().totalElements())];
      model.parameters(weights);
      try (OuterOptimizer optimizer = new OuterOptimizer(RUN, clients, WarmupCosine.CONSTANT, null)) {
        optimizer.open(spec.describe(model), weights);
      }
      RoundLog log = new RoundLog(topics, clients, Duration.ofSeconds(60));
      // A worker follows the run's overlap mode; one told another refuses to start.
      StringWriter err = new StringWriter();
      assertThat(Cli.run(new StringWriter(), err, "worker", "--run", RUN, "--bootstrap-servers",
          bootstrap, "--overlap", "eager")).isEqualTo(1);
      assertThat(err.toString()).contains("run " + RUN + " overlaps its rounds as none (its "
          + "description); this worker was given --overlap eager").doesNotContain("\tat ");
      // Training: its first progress heartbeat is out.
      AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);
      await().atMost(Duration.ofSeconds(90)).until(() -> {
        boolean[] training = {false};
        log.readToEnd(new TopicPartition(topics.membership(), 0), 0, r -> {
          training[0] |= serde.decode(r.value()).getInnerStep() != null;
          return true;
        });
        return training[0];
      });

      broker.close();
      long stop = System.nanoTime();
      worker.destroy(); // SIGTERM
      boolean exited = worker.waitFor(20, TimeUnit.SECONDS);
      double seconds = (System.nanoTime() - stop) / 1e9;
      String output = Files.readString(dir.resolve("worker.log"));
      System.out.printf("the worker exited %.1f s after SIGTERM%n", seconds);
      assertThat(exited).as("exited within 20 s of SIGTERM; its log:%n%s", output).isTrue();
      assertThat(seconds).as("seconds from SIGTERM to exit").isLessThanOrEqualTo(10.0);
      assertThat(output).containsAnyOf("could not announce within PT3S that it leaves",
          "exiting without announcing that it leaves");
    } finally {
      for (Process p : started) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
      broker.close();
    }
  }

  private Process start(String bootstrap, String command, String... args) throws IOException {
    List<String> line = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m", "-cp",
        System.getProperty("java.class.path"), Diloco.class.getName(), command, "--run", RUN,
        "--bootstrap-servers", bootstrap));
    line.addAll(List.of(args));
    return new ProcessBuilder(line).redirectErrorStream(true)
        .redirectOutput(dir.resolve(command + ".log").toFile()).start();
  }
}
