package dev.diloco.launcher.options;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.schemas.ModelDescription;
import dev.diloco.tokens.Manifest;
import dev.diloco.tokens.Tokenize;
import dev.diloco.tokens.TokenizerFile;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.math.OuterStep;
import dev.diloco.worker.AdamW;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.RunSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The tokenizer that sample and export find in a run directory when none is given. */
class RunTokenizerTest {

  @TempDir
  Path dir;

  @Test
  void theCopyBesideTheRunsTokensIsFoundWhenItIsTheRunsOwn() throws Exception {
    Path text = Files.writeString(dir.resolve("t.txt"), "Hello world. ".repeat(50));
    Manifest m;
    try (TokenizerFile gpt2 = TokenizerFile.load(Path.of("..", "data", "gpt2",
        "tokenizer.json"))) {
      m = Tokenize.run(gpt2, new Tokenize.Settings(List.of(text), dir.resolve("run")
          .resolve("tokens"), "text", 1_000, 0, 0.1), (t, b) -> { });
    }
    RunSpec spec = new RunSpec("r", ModelConfig.preset("tiny"), 4, 2, AdamW.Config.OPENDILOCO,
        OuterStep.dilocoConfig(), PayloadFormat.FP16, false, 1, 4096);
    ModelDescription bytes = spec.describe(spec.newModel());
    ModelDescription tokens = ModelDescription.newBuilder(bytes)
        .setTokenizerSha256(m.tokenizer().sha256()).build();
    Path copy = dir.resolve("run").resolve("tokens").resolve(Tokenize.TOKENIZER);
    assertThat(RunTokenizer.inRunDirectory(dir.resolve("run"), tokens)).isEqualTo(copy);
    // A run over bytes, another tokenizer, no run directory, a directory without tokens: none.
    assertThat(RunTokenizer.inRunDirectory(dir.resolve("run"), bytes)).isNull();
    ModelDescription other = ModelDescription.newBuilder(bytes)
        .setTokenizerSha256("0".repeat(64)).build();
    assertThat(RunTokenizer.inRunDirectory(dir.resolve("run"), other)).isNull();
    assertThat(RunTokenizer.inRunDirectory(null, tokens)).isNull();
    assertThat(RunTokenizer.inRunDirectory(dir, tokens)).isNull();
  }
}
