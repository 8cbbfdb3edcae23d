package dev.diloco.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.launcher.Cli;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** Bad benchmark settings are refused in one line, before any broker starts. */
class BenchCommandTest {

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Cli.run(BenchMain.commandLine(), out, err, args);
  }

  @Test
  void theBenchmarksAreCommandsOfDilocoBesideTheServices() {
    assertThat(run("--help")).isZero();
    assertThat(out.toString()).contains("bench", "run", "worker", "reducer", "optimizer");
    assertThat(run("bench", "--help")).isZero();
    assertThat(out.toString()).contains("convergence", "pipeline", "reducer");
  }

  @Test
  void badBenchmarkSettingsAreRefusedBeforeAnythingRuns() {
    assertThat(run("bench", "reducer", "--workers", "0")).isEqualTo(1);
    assertThat(err.toString()).contains("must all be >= 1, got 0");
    assertThat(run("bench", "convergence", "--workers", "1")).isEqualTo(1);
    assertThat(err.toString()).contains("the benchmark needs >= 2 workers and >= 1 round, got 1");
    assertThat(run("bench", "convergence", "--sweep-h", "7")).isEqualTo(1);
    assertThat(err.toString()).contains("each swept H must divide the budget of 400 inner steps, "
        + "got 7");
    assertThat(run("bench", "convergence", "--data", "no-such-corpus.txt")).isEqualTo(1);
    assertThat(err.toString()).contains("data path no-such-corpus.txt does not exist");
    assertThat(run("bench", "pipeline", "--rounds", "1")).isEqualTo(1);
    assertThat(err.toString()).contains(">= 2 rounds (the first warms up)");
  }
}
