package dev.diloco.launcher.options;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.schemas.Compression;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.worker.RunSpec;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine;

/** What the run options make of a codec, its compression and byte planes, and what they refuse. */
class RunSpecOptionsTest {

  @Command(name = "test")
  static final class Holder {
    @Mixin
    RunSpecOptions options;
  }

  private static RunSpec spec(String... args) {
    Holder holder = new Holder();
    new CommandLine(holder).parseArgs(args);
    return holder.options.spec("r");
  }

  @Test
  void bf16AsBytePlanesUnderZstdIsWhatTheRunDescribes() {
    RunSpec spec = spec("--codec", "bf16", "--compression", "zstd", "--byte-planes");
    ModelDescription d = spec.describe(spec.newModel());
    assertThat(d.getEncoding()).isEqualTo(TensorEncoding.BF16);
    assertThat(d.getCompression()).isEqualTo(Compression.ZSTD);
    assertThat(d.getBytePlanes()).isTrue();
    assertThat(RunSpec.of(d).format()).isEqualTo(spec.format()); // what the workers send
  }

  @Test
  void theDefaultsAreFp16WithNeitherCompressionNorPlanes() {
    RunSpec spec = spec();
    assertThat(spec.format().encoding()).isEqualTo(TensorEncoding.FP16);
    assertThat(spec.format().compression()).isEqualTo(Compression.NONE);
    assertThat(spec.format().bytePlanes()).isFalse();
  }

  @Test
  void anUnknownCompressionOrPlanesOfAnIntegerCodecAreRefusedByName() {
    assertThatThrownBy(() -> spec("--compression", "gzip"))
        .hasMessage("--compression must be none or zstd, got 'gzip'");
    assertThatThrownBy(() -> spec("--codec", "int8", "--byte-planes"))
        .hasMessage("--byte-planes is for float codecs (fp32, fp16, bf16); --codec is int8");
    assertThatThrownBy(() -> spec("--codec", "fp8"))
        .hasMessage("--codec must be fp32, fp16, bf16, int8 or int4, got 'fp8'");
  }
}
