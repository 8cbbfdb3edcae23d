package dev.diloco.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.launcher.Cli;
import dev.diloco.launcher.NoProcessLeftBehind;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The benchmarks in their quick modes: a smoke test of what they run and write, not timed.
 * (Quick takes about 45 s alone; the bound leaves room for a crowded 2-core machine.)
 */
@ExtendWith(NoProcessLeftBehind.class)
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class BenchCommandIntegrationTest {

  @TempDir
  Path dir;

  @Test
  void convergenceComparesEveryArmAndWritesItsTableCsvAndPlot() throws Exception {
    Path out = dir.resolve("convergence");
    StringWriter err = new StringWriter();
    assertThat(run(err, "bench", "convergence", "--quick", "--out", out.toString()))
        .as("stderr: %s", err).isZero();

    List<String> csv = Files.readAllLines(out.resolve("convergence.csv"));
    assertThat(csv.get(0)).startsWith("arm,workers,h,encoding,final_eval_loss,perplexity");
    assertThat(csv.subList(1, csv.size())).extracting(l -> l.split(",")[0])
        .containsExactly("single worker", "data-parallel", "DiLoCo FP16",
            "DiLoCo FP16 (in process)");
    // Every point of the three sweeps, one chosen in each: the lowest validation loss.
    List<String> sweep = Files.readAllLines(out.resolve("convergence-sweep.csv"));
    assertThat(sweep.get(0)).isEqualTo("arm,learning_rate,validation_loss,standard_error,"
        + "wall_seconds,chosen");
    for (String arm : List.of("single worker", "data-parallel", "DiLoCo FP16 (in process)")) {
      List<String[]> points = sweep.stream().skip(1).map(l -> l.split(","))
          .filter(p -> p[0].equals(arm)).toList();
      // Quick takes the first rate of each local grid and the first two outer rates.
      assertThat(points).as(arm).hasSize(arm.startsWith("DiLoCo") ? 2 : 1);
      String[] best = points.stream().min(java.util.Comparator.comparingDouble(
          p -> Double.parseDouble(p[2]))).orElseThrow();
      assertThat(points).as(arm).allSatisfy(p -> assertThat(p[5]).isEqualTo(
          Boolean.toString(p == best)));
    }
    // Every arm starts from the warm start's weights (5 steps of one worker: below the
    // untrained model's ln 256 = 5.55), and 10 inner steps per worker must take it well below
    // (measured: 3.0 to 3.1); no arm may end in nonsense.
    List<String> curves = Files.readAllLines(out.resolve("convergence-curves.csv"));
    List<Double> starts = new java.util.ArrayList<>();
    for (String line : csv.subList(1, csv.size())) {
      String arm = line.split(",")[0];
      double start = curves.stream().filter(c -> c.startsWith(arm + ",0,")).findFirst()
          .map(c -> Double.parseDouble(c.split(",")[2])).orElseThrow();
      double end = Double.parseDouble(line.split(",")[4]);
      starts.add(start);
      // Bytes: a token is a byte, so bits per byte is the loss over ln 2.
      assertThat(Double.parseDouble(line.split(",")[18])).as("%s bits per byte", arm)
          .isCloseTo(end / Math.log(2), org.assertj.core.data.Offset.offset(1e-4));
      assertThat(start).as("%s at step 0", arm).isBetween(4.0, 5.5);
      assertThat(end).as("%s after 10 steps", arm).isBetween(1.0, start - 0.5);
    }
    assertThat(new java.util.HashSet<>(starts)).as("every arm's step 0").hasSize(1);
    // FP16 up: 2 bytes a parameter a round, and the records' framing. Down: round 0's FP32
    // weights, then round 0's exact sums instead of round 1's weights.
    String[] fp16 = csv.get(3).split(",");
    long params = 136_448;
    assertThat(Long.parseLong(fp16[6])).as("FP16 sends")
        .isBetween(2 * 2 * params, 2 * 2 * params * 101 / 100);
    assertThat(Long.parseLong(fp16[7])).as("FP16 reads")
        .isBetween(4 * params, 2 * 4 * params);
    assertThat(Files.readString(out.resolve("convergence.md")))
        .contains("| DiLoCo FP16 | 2 | 5 | FP16 | ")
        .contains("final eval loss | bits per byte |", "training bytes", "in nats per byte")
        .containsPattern("DiLoCo FP16 closes -?[0-9.]+% of the gap from one worker")
        .containsPattern("DiLoCo FP16 − data-parallel = [-+][0-9.]+ ± [0-9.]+ \\(the paired "
            + "standard error; [^)]*\\): (more than|within noise)")
        // The sweep's DiLoCo is the pipeline's arithmetic: the same bits where the workers run
        // on one OpenMP thread each, as the sweep's points do (cores / 3 of them for 2 workers).
        .contains(Runtime.getRuntime().availableProcessors() / 3 <= 1
            ? "ends on the pipeline arm's weights bit for bit" : "DiLoCo FP16 arm ends")
        .contains("Every arm starts from the same warm start: one worker trained 5 steps")
        .contains("Command: `./diloco bench convergence");
    assertThat(Files.readAllBytes(out.resolve("convergence.png"))).startsWith(0x89, 'P', 'N', 'G');
  }

  @Test
  void pipelineTimesEveryStageBesideRawKafka() throws Exception {
    Path table = dir.resolve("pipeline.md");
    PrintStream stdout = System.out;
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
      assertThat(run(new StringWriter(), "bench", "pipeline", "--workers", "2", "--params",
          "300000", "--chunk-elements", "65536", "--partitions", "2", "--rounds", "2",
          "--out", table.toString())).isZero();
    } finally {
      System.setOut(stdout);
    }
    String md = Files.readString(table);
    assertThat(printed.toString(StandardCharsets.UTF_8)).contains(md.trim());
    assertThat(md).contains("2 workers, 300,000 parameters", "| encode FP16",
        "| publish, 2 workers at once", "| reduce: last ack to last sum applied",
        "| outer step + publish weights, to the commit", "| reload weights, 2 workers at once",
        "| raw produce of the pseudo-gradient bytes", "| raw consume of the weights bytes x 2",
        "Round overhead: ", "| 1800 |");
  }

  private static int run(StringWriter err, String... args) {
    return Cli.run(BenchMain.commandLine(), new StringWriter(), err, args);
  }
}
