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
    assertThat(err.toString()).contains("each swept H must divide the budget of 1000 inner "
        + "steps, got 7");
    assertThat(run("bench", "convergence", "--sweep-k", "1")).isEqualTo(1);
    assertThat(err.toString()).contains("each swept k must be >= 2 workers, got 1");
    assertThat(run("bench", "convergence", "--eval-windows", "100")).isEqualTo(1);
    assertThat(err.toString()).contains("eval windows must be a multiple of the batch (8) and "
        + "at least two batches, got 100");
    assertThat(run("bench", "convergence", "--warm-start", "-1")).isEqualTo(1);
    assertThat(err.toString()).contains("the warm start must be >= 0 steps, got -1");
    assertThat(run("bench", "convergence", "--single-lr", "3e-3,0")).isEqualTo(1);
    assertThat(err.toString()).contains("a sweep takes one or more learning rates > 0, got "
        + "[0.003, 0.0]");
    assertThat(run("bench", "convergence", "--threads", "0")).isEqualTo(1);
    assertThat(err.toString()).contains("threads must be >= 1, got 0");
    assertThat(run("bench", "convergence", "--data", "no-such-corpus.txt")).isEqualTo(1);
    assertThat(err.toString()).contains("data path no-such-corpus.txt does not exist");
    assertThat(run("bench", "pipeline", "--rounds", "1")).isEqualTo(1);
    assertThat(err.toString()).contains(">= 2 rounds (the first warms up)");
    assertThat(run("bench", "convergence", "--overlap", "eager")).isEqualTo(1);
    assertThat(err.toString()).contains("use --overlap-arms eager");
    assertThat(run("bench", "convergence", "--overlap-arms", "none")).isEqualTo(1);
    assertThat(err.toString()).contains("--overlap-arms takes eager or delayed");
    assertThat(run("bench", "convergence", "--quick", "--arms", "DiLoCo FP64")).isEqualTo(1);
    assertThat(err.toString()).contains("--arms names no arm of this benchmark: [DiLoCo FP64]");
    assertThat(run("bench", "worker", "--presets", "tiny,huge")).isEqualTo(1);
    assertThat(err.toString()).contains("no model preset 'huge'");
    assertThat(run("bench", "worker", "--batch", "0")).isEqualTo(1);
    assertThat(run("bench", "memory", "--heap", "bogus")).isEqualTo(1);
    assertThat(err.toString()).contains("heap 'bogus' is not a JVM heap size");
    assertThat(run("bench", "faults", "--codec", "bogus", "--out", "runs/never")).isEqualTo(1);
    assertThat(err.toString()).contains("--codec must be fp32, fp16, bf16, int8 or int4, got "
        + "'bogus'");
    assertThat(java.nio.file.Path.of("runs/never")).doesNotExist();
    assertThat(err.toString()).contains("need presets, --batch >= 1");
  }

  @Test
  void badWanSettingsAreRefusedBeforeAnyNamespaceIsMade() {
    assertThat(run("bench", "wan", "--rates", "20mbps")).isEqualTo(1);
    assertThat(err.toString()).contains("a link speed is a whole number and kbit, mbit or gbit "
        + "(e.g. 20mbit), up to 100gbit; got '20mbps'");
    assertThat(run("bench", "wan", "--rates", "0mbit")).isEqualTo(1);
    assertThat(err.toString()).contains("got '0mbit'");
    assertThat(run("bench", "wan", "--rates", "101gbit")).isEqualTo(1);
    assertThat(err.toString()).contains("got '101gbit'");
    assertThat(run("bench", "wan", "--modes", "none,sideways")).isEqualTo(1);
    assertThat(err.toString()).contains("--modes must be none, eager or delayed, got 'sideways'");
    assertThat(run("bench", "wan", "--rounds", "1")).isEqualTo(1);
    assertThat(err.toString()).contains(">= 2 rounds");
    assertThat(run("bench", "wan", "--data", "no-such-corpus.txt")).isEqualTo(1);
    assertThat(err.toString()).contains("data path no-such-corpus.txt does not exist");
  }

  @Test
  void linkSpeedsReadAndPrintInTheirUnits() {
    assertThat(WanReport.parseRate("1gbit")).isEqualTo(1_000_000_000L);
    assertThat(WanReport.parseRate("20MBIT")).isEqualTo(20_000_000L);
    assertThat(WanReport.parseRate("512kbit")).isEqualTo(512_000L);
    assertThat(WanReport.rate(1_000_000_000L)).isEqualTo("1 Gbit/s");
    assertThat(WanReport.rate(5_000_000L)).isEqualTo("5 Mbit/s");
    assertThat(WanReport.rate(512_000L)).isEqualTo("512 kbit/s");
  }
}
