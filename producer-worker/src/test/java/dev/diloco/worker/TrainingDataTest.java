package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.tokens.TokenShardWriter;
import dev.diloco.tokens.TokenizerFile;
import dev.diloco.tokens.Tokenize;
import dev.diloco.tokens.Tokens;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingDataTest {

  private static final Path DATA = Path.of("..", "data");

  @TempDir
  Path dir;

  /** Bytes dealt as tokens are the bytes the byte corpus deals: the same shards, iid or not. */
  @Test
  void aTextsTokensAreItsBytesDealtAsBefore() {
    byte[] text = BuiltInCorpus.generate(50_000, 3);
    ByteCorpus corpus = ByteCorpus.of(text, 0.1, "t");
    TrainingData data = TrainingData.of(corpus);
    assertThat(data.vocab()).isEqualTo(256);
    for (boolean nonIid : new boolean[] {false, true}) {
      for (int w = 0; w < 3; w++) {
        byte[] expected = corpus.shard(w, 3, nonIid);
        Tokens got = data.shard(w, 3, nonIid);
        assertThat(got.size()).isEqualTo(expected.length);
        for (int i = 0; i < expected.length; i++) {
          if (got.get(i) != (expected[i] & 0xff)) {
            throw new AssertionError("worker " + w + " token " + i);
          }
        }
      }
    }
    assertThat(data.eval().size()).isEqualTo(corpus.evalSlice().length);
  }

  @Test
  void tokenizedDataSaysItsVocabularyAndIsRefusedByAModelOfAnother() throws IOException {
    Path text = dir.resolve("a.txt");
    Files.writeString(text, "To be, or not to be, that is the question. ".repeat(50));
    Path out = dir.resolve("tokens");
    try (TokenizerFile gpt2 = TokenizerFile.load(DATA.resolve("gpt2").resolve("tokenizer.json"))) {
      Tokenize.run(gpt2, new Tokenize.Settings(List.of(text), out, "text", 100, 0, 0.1),
          (t, b) -> { });
    }
    TrainingData data = TrainingData.load(out, 0.1, 0);
    assertThat(data.vocab()).isEqualTo(50_257);
    assertThat(data.train().size() + data.eval().size()).isEqualTo(651);
    assertThat(data.eval().size()).isEqualTo(65);
    assertThat(data.tokenizer()).isRegularFile();
    // Bits per byte: nats per token over the bytes a held-out token stands for, over ln 2.
    var val = data.manifest().val();
    assertThat(data.evalBytesPerToken()).isEqualTo((double) val.textBytes() / val.tokens());
    assertThat(TrainingData.bitsPerByte(Math.log(2) * 3, 3)).isCloseTo(1.0,
        org.assertj.core.data.Offset.offset(1e-15));
    assertThat(TrainingData.of(ByteCorpus.of(new byte[100], 0.1, "z")).evalBytesPerToken())
        .isEqualTo(1.0);
    assertThat(TrainingData.load(out.resolve("manifest.json"), 0.1, 50_257).vocab())
        .isEqualTo(50_257);
    assertThatThrownBy(() -> TrainingData.load(out, 0.1, 256)).hasMessageContaining(
        "was tokenized by tokenizer.json (SHA-256 316c2108").hasMessageEndingWith(
        "into a vocabulary of 50257, but the run's model has a vocabulary of 256");
    // A shard changed after the manifest was written is refused by name.
    Path first = out.resolve("train_000000.bin");
    Files.write(first, java.util.Arrays.copyOf(Files.readAllBytes(first), 1024 + 20));
    assertThatThrownBy(() -> TrainingData.load(out, 0.1, 0)).hasMessageContaining(
        "token file " + first.toAbsolutePath() + ": its header says 100 tokens");
  }

  /** The run's description names its tokenizer and data; a worker given others is refused. */
  @Test
  void aWorkerGivenOtherDataOrAnotherTokenizerThanTheRunsIsRefusedByName() throws IOException {
    Path a = tokenized("a", "To be, or not to be. ");
    Path b = tokenized("b", "All the world's a stage. ");
    TrainingData data = TrainingData.load(a, 0.1, 0);
    RunSpec spec = new RunSpec("r", ModelConfig.TINY.withVocab(data.vocab()), 2, 2,
        AdamW.Config.OPENDILOCO, dev.diloco.core.math.OuterStep.dilocoConfig(),
        dev.diloco.core.codec.PayloadFormat.FP16, false, 1, 4096);
    var run = data.describe(spec.describe(spec.newModel()));
    assertThat(run.getTokenizerSha256()).startsWith("316c2108");
    assertThat(run.getEndOfText()).isEqualTo(50_256);
    assertThat(run.getDataSha256()).isEqualTo(data.manifestSha256()).hasSize(64);
    data.requireFor(run);
    TrainingData other = TrainingData.load(b, 0.1, 0);
    assertThatThrownBy(() -> other.requireFor(run)).hasMessage("run r trains on the data whose "
        + "manifest has SHA-256 " + data.manifestSha256() + "; data " + b.resolve(
        "manifest.json") + "'s has " + other.manifestSha256() + ": give every worker the data "
        + "the run was started with");
    Path lone = b.resolve("train_000000.bin");
    assertThatThrownBy(() -> TrainingData.load(lone, 0.1, 50_257).requireFor(run))
        .hasMessageStartingWith("run r's tokens were made by the tokenizer with SHA-256 316c")
        .hasMessageEndingWith("data " + lone + " names no tokenizer");
  }

  private Path tokenized(String name, String text) throws IOException {
    Path file = dir.resolve(name + ".txt");
    Files.writeString(file, text.repeat(40));
    Path out = dir.resolve(name);
    try (TokenizerFile gpt2 = TokenizerFile.load(DATA.resolve("gpt2").resolve("tokenizer.json"))) {
      Tokenize.run(gpt2, new Tokenize.Settings(List.of(file), out, "text", 1000, 0, 0.1),
          (t, n) -> { });
    }
    return out;
  }

  /** nanoGPT's .bin: uint16 tokens, no header; its vocabulary is given, never guessed. */
  @Test
  void aHeaderlessNanoGptFileNeedsItsVocabulary() throws IOException {
    Path file = dir.resolve("train.bin");
    byte[] tokens = new byte[200];
    for (int i = 0; i < 100; i++) {
      tokens[2 * i] = (byte) i;
      tokens[2 * i + 1] = 1; // 256 + i
    }
    Files.write(file, tokens);
    assertThatThrownBy(() -> TrainingData.load(file, 0.1, 0)).hasMessage("token file " + file
        + " has no llm.c header (nanoGPT's uint16 tokens alone, say): give its vocabulary "
        + "(--vocab-size), or the directory diloco tokenize wrote (its manifest says it)");
    TrainingData data = TrainingData.load(file, 0.1, 1000);
    assertThat(data.train().size()).isEqualTo(90);
    assertThat(data.train().get(3)).isEqualTo(259);
    assertThat(data.eval().get(0)).isEqualTo(346);
    assertThatThrownBy(() -> TrainingData.load(file, 0.1, 300)).hasMessageContaining(
        "token 44 is 300, not below the vocabulary's 300");
  }

  @Test
  void aTokenFileAloneTakesTheRunsVocabularyAndHoldsOutItsEnd() {
    Path file = dir.resolve("t.bin");
    try (TokenShardWriter w = new TokenShardWriter(file, 1000)) {
      for (int i = 0; i < 100; i++) {
        w.write(i * 7 % 1000);
      }
    }
    TrainingData data = TrainingData.load(file, 0.1, 1000);
    assertThat(data.train().size()).isEqualTo(90);
    assertThat(data.eval().get(0)).isEqualTo(90 * 7 % 1000);
    assertThatThrownBy(() -> TrainingData.load(file, 0.1, 0)).hasMessageContaining(
        "does not say its vocabulary");
    assertThatThrownBy(() -> TrainingData.load(file, 0.1, 500)).hasMessageContaining(
        "token 72 is 504, not below the vocabulary's 500");
    assertThatThrownBy(() -> TrainingData.load(DATA.resolve("tinyshakespeare.txt"), 0.1, 200))
        .hasMessageContaining("is text, read as bytes (a vocabulary of 256), but the run's model "
            + "has a vocabulary of 200");
    // Bytes fit a larger vocabulary: OpenDiLoCo's llama-2m (1,024) trains on them.
    assertThat(TrainingData.load(DATA.resolve("tinyshakespeare.txt"), 0.1, 1024).vocab())
        .isEqualTo(256);
  }
}
