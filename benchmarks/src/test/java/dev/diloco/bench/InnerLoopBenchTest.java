package dev.diloco.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The inner-loop benchmark's FLOP count, worked out by hand, and its table. */
class InnerLoopBenchTest {

  @Test
  void countsPalmsFlopsPerTokenAndPrintsOneRowPerPreset() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    List<InnerLoopBench.Row> rows = InnerLoopBench.run(new InnerLoopBench.Settings(
        List.of("tiny"), 2, 2, 0, 64), new PrintStream(bytes, true, StandardCharsets.UTF_8));
    InnerLoopBench.Row tiny = rows.get(0);
    // tiny: C = 64, L = 2, T = 64, MLP 256. Matrices: wte 256x64 + lm_head 64x256 = 32,768;
    // a block 4 x 64x64 + 2 x 64x256 = 49,152, twice. 6 N = 786,432; 12 L T C = 98,304.
    assertThat(tiny.flopsPerToken()).isEqualTo(786_432 + 98_304);
    assertThat(tiny.parameters()).isEqualTo(136_448);
    assertThat(tiny.tokensPerSecond()).isPositive();
    assertThat(tiny.stepSeconds()).isEqualTo(tiny.drawSeconds() + tiny.gradientSeconds()
        + tiny.adamwSeconds() + tiny.loadSeconds());
    String table = bytes.toString(StandardCharsets.UTF_8);
    assertThat(table).contains("sgemm 64 x 64 x 64: ", "| tiny | 136,448 | 2 x 64 | ");
  }
}
