package dev.diloco.launcher.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunSummaryTest {

  @TempDir
  Path dir;

  /**
   * The plot of a run on tokens has its bits per byte on a second axis; a run whose data does
   * not say its bytes (a token file without a manifest) has none, and still plots.
   */
  @Test
  void thePlotHasBitsPerByteWhenTheDataSaysItsBytes() throws Exception {
    for (Double bits : new Double[] {4.5, null}) {
      RunSummary summary = new RunSummary(Map.of("run_id", "r"));
      for (int r = 0; r < 3; r++) {
        summary.add(new RunSummary.Round(r, r == 0 ? null : 9.0 - r, 10.0 - r,
            bits == null ? null : bits - r * 0.3, 2, 100, 200, 1.5, 0.9, "00"));
      }
      Path png = dir.resolve("loss-" + bits + ".png");
      summary.writeLossPng(png, "run r");
      BufferedImage image = ImageIO.read(png.toFile());
      assertThat(image.getWidth()).isEqualTo(900);
      assertThat(image.getHeight()).isEqualTo(540);
    }
  }
}
