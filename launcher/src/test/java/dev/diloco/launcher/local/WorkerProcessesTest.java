package dev.diloco.launcher.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.math.OuterStep;
import dev.diloco.launcher.NoProcessLeftBehind;
import dev.diloco.worker.AdamW;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.RunSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A local run's worker processes, with a stand-in for the worker (real processes, no model):
 * one that dies is started again with the same state directory; one that keeps dying stops
 * the run, naming its log.
 */
@ExtendWith(NoProcessLeftBehind.class)
class WorkerProcessesTest {

  @TempDir
  Path dir;

  /** Dies (exit 3) the first time it sees its state directory, works (exit 0) the second. */
  public static final class DiesOnce {
    public static void main(String[] args) throws IOException {
      Path state = Path.of(args[List.of(args).indexOf("--state-dir") + 1]);
      if (Files.exists(state)) {
        System.exit(0);
      }
      Files.createDirectories(state);
      System.exit(3);
    }
  }

  /** Dies every time. */
  public static final class AlwaysDies {
    public static void main(String[] args) {
      System.exit(4);
    }
  }

  @Test
  void aWorkerThatDiesIsStartedAgainOnItsStateDirectory() throws Exception {
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    try (WorkerProcesses workers = new WorkerProcesses(plan(DiesOnce.class), "127.0.0.1:1",
        new PrintStream(console, true, StandardCharsets.UTF_8))) {
      workers.startAll();
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        workers.supervise();
        String said = console.toString(StandardCharsets.UTF_8);
        return said.contains("worker-0 stopped (exit 3); starting it again")
            && said.contains("worker-1 stopped (exit 3); starting it again");
      });
      workers.awaitExit(); // the second start of each found its state and left
    }
    assertThat(dir.resolve("state").resolve("worker-0")).isDirectory();
  }

  @Test
  void aWorkerThatKeepsDyingStopsTheRunAndNamesItsLog() throws Exception {
    try (WorkerProcesses workers = new WorkerProcesses(plan(AlwaysDies.class), "127.0.0.1:1",
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8))) {
      workers.startAll();
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
          assertThatThrownBy(workers::supervise).hasMessageContaining("died 4 times")
              .hasMessageContaining("worker-"));
    }
  }

  private LocalRun.Plan plan(Class<?> worker) {
    RunSpec spec = new RunSpec("stand-in", ModelConfig.preset("tiny"), 4, 2,
        AdamW.Config.OPENDILOCO, OuterStep.dilocoConfig(), PayloadFormat.FP16, false, 1, 4096);
    return new LocalRun.Plan(spec, 2, 3, null, false, dir, null, 2, null,
        List.of(worker.getName()));
  }

  @Test
  void eachWorkerGetsItsShareOfTheCoresAndThisProcessOneAtTheLeast() {
    assertThat(WorkerProcesses.threadsPerWorker(2, 1)).isEqualTo(1);
    assertThat(WorkerProcesses.threadsPerWorker(2, 4)).isEqualTo(1);
    assertThat(WorkerProcesses.threadsPerWorker(16, 3)).isEqualTo(4);
    assertThat(WorkerProcesses.threadsPerWorker(16, 1)).isEqualTo(8);
  }
}
