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
        List.of("tiny", "llama-2m"), 2, 2, 0, 64, 0), new PrintStream(bytes, true,
        StandardCharsets.UTF_8));
    InnerLoopBench.Row tiny = rows.get(0);
    // tiny: C = 64, L = 2, T = 64, MLP 256. Products: lm_head 64x256 = 16,384 (wte is gathered);
    // a block 4 x 64x64 + 2 x 64x256 = 49,152, twice. 6 N = 688,128; 12 L T C = 98,304.
    assertThat(tiny.flopsPerToken()).isEqualTo(688_128 + 98_304);
    // llama-2m: C = 64, L = 2, T = 128, M = 256, V = 1,024 untied. lm_head 1024x64 = 65,536; a
    // block q, k, v, o 4 x 64x64 + gate, up, down 3 x 256x64 = 65,536, twice. 6 N = 1,179,648;
    // 12 L T C = 196,608.
    assertThat(rows.get(1).flopsPerToken()).isEqualTo(1_179_648 + 196_608);
    for (InnerLoopBench.Row r : rows) {
      assertThat(r.embeddingShare() + r.headShare()).isBetween(0.0, 1.0);
      assertThat(r.headShare()).isPositive();
    }
    assertThat(tiny.parameters()).isEqualTo(136_448);
    assertThat(tiny.tokensPerSecond()).isPositive();
    assertThat(tiny.stepSeconds()).isEqualTo(tiny.drawSeconds() + tiny.gradientSeconds()
        + tiny.adamwSeconds() + tiny.loadSeconds());
    String table = bytes.toString(StandardCharsets.UTF_8);
    assertThat(table).contains("sgemm 64 x 64 x 64: ", "| tiny | 136,448 | 2 x 64 | ",
        "| llama-2m | 262,464 | 2 x 128 | ");
  }
}
