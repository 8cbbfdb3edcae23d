package dev.diloco.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.launcher.NoProcessLeftBehind;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fault soak, bounded: one SIGKILL of each kind (worker, reducer, optimizer, one of three
 * brokers), and every round's weights the same bits as the run without faults. INT4 with error
 * feedback, so a killed worker's residual must come back with it.
 */
@ExtendWith(NoProcessLeftBehind.class)
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class FaultSoakIntegrationTest {

  @TempDir
  Path dir;

  @Test
  void aFaultOfEveryKindLeavesEveryRoundTheSameBitsAndTheRunReplays() throws Exception {
    var settings = new FaultSoak.Settings(4, 2, "tiny", 5, "int4", 3, Duration.ofMillis(500),
        Duration.ofSeconds(1), Duration.ofMinutes(5), Duration.ofMinutes(9), dir);
    ByteArrayOutputStream progress = new ByteArrayOutputStream();
    SoakReport report = new FaultSoak(settings, new PrintStream(progress, true,
        StandardCharsets.UTF_8)).run();
    String said = progress.toString(StandardCharsets.UTF_8) + report.markdown();
    System.out.println(said);
    assertThat(report.faulty().hung()).as(said).isNull();
    assertThat(report.steady()).as(said).isNotNull();
    assertThat(report.faulty().faults()).extracting(SoakReport.Fault::kind)
        .containsExactlyInAnyOrder(Fleet.Kind.values());
    assertThat(report.faulty().sha256()).as("every round's SHA-256, with faults and without")
        .hasSizeGreaterThanOrEqualTo(3).isEqualTo(report.steady().sha256());
    assertThat(report.faulty().lostRounds()).isEmpty();
    assertThat(report.replay().ok()).as(said).isTrue();
    // What went over the wire, as the log holds it: half a byte a parameter and a byte of
    // scale per 64, against FP16's two bytes. A round may hold a restarted worker's Δ twice
    // (sent again, counted once), so the bound above holds for the smallest round.
    long fp16 = 2 * 136_448;
    long smallest = report.replay().rounds().stream().skip(1)
        .mapToLong(r -> r.pseudoGradientBytes() / r.contributors().size()).min().orElseThrow();
    assertThat(smallest).as("INT4 bytes per worker and round")
        .isBetween(fp16 / 4 + fp16 / 256, (long) (fp16 * 0.27));
    assertThat(report.passed()).isTrue();
    assertThat(report.markdown()).contains("# Fault soak: PASSED", "| worker | 1 |",
        "| broker | 1 |");
  }
}
