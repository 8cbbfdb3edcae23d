package dev.diloco.tokens;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code diloco tokenize} against an outside reference: GPT-2's tokenizer on Tiny Shakespeare
 * must give exactly the 338,025 tokens of {@code data/gpt2/tinyshakespeare.bin}, made and
 * checked by other BPE implementations (its README says how).
 */
class TokenizeTest {

  static final Path DATA = Path.of("..", "data");
  static final Path GPT2 = DATA.resolve("gpt2").resolve("tokenizer.json");
  private static TokenizerFile gpt2;

  @TempDir
  Path dir;

  @BeforeAll
  static void load() {
    gpt2 = TokenizerFile.load(GPT2);
  }

  @AfterAll
  static void close() {
    gpt2.close();
  }

  @Test
  void tinyShakespeareGivesExactlyTheReferenceTokensAndItsBytes() {
    Path text = DATA.resolve("tinyshakespeare.txt");
    List<long[]> seen = new ArrayList<>();
    Manifest m = Tokenize.run(gpt2, new Tokenize.Settings(List.of(text), dir.resolve("out"),
        "text", 100_000, 36_059, 0), (tokens, bytes) -> seen.add(new long[] {tokens, bytes}));
    assertThat(gpt2.vocabSize()).isEqualTo(50_257);
    assertThat(gpt2.endOfText()).hasValue(50_256);
    assertThat(m.tokenWidth()).isEqualTo(2);
    assertThat(m.train()).extracting(Manifest.Shard::tokens)
        .containsExactly(100_000L, 100_000L, 100_000L, 1_966L);
    assertThat(m.val().tokens()).isEqualTo(36_059);
    // Every token, in order, is the reference's; and they stand for every byte of the text.
    TokenShard reference = TokenShard.open(DATA.resolve("gpt2").resolve("tinyshakespeare.bin"),
        50_257);
    assertThat(reference.size()).isEqualTo(338_025);
    long i = 0;
    List<Manifest.Shard> all = new ArrayList<>(m.train());
    all.add(m.val());
    for (Manifest.Shard s : all) {
      TokenShard shard = TokenShard.open(dir.resolve("out").resolve(s.file()), 50_257);
      for (long j = 0; j < shard.size(); j++, i++) {
        if (shard.token(j) != reference.token(i)) {
          throw new AssertionError("token " + i + " is " + shard.token(j) + ", the reference's "
              + reference.token(i));
        }
      }
    }
    assertThat(i).isEqualTo(338_025);
    assertThat(m.trainTextBytes() + m.val().textBytes()).isEqualTo(1_115_394);
    // The text was cut into pieces (it is longer than one), and progress was told each time.
    assertThat(seen).hasSizeGreaterThan(1);
    assertThat(seen.get(seen.size() - 1)).containsExactly(338_025, 1_115_394);
    assertThat(Manifest.read(dir.resolve("out").resolve(Manifest.FILE))).isEqualTo(m);
    assertThat(m.tokenizer().sha256())
        .isEqualTo("316c2108d89946786e5900a060d4051619873c20d266b04e392bb466cdde44d8");
  }

  @Test
  void documentsOfJsonLinesAndGzipAreSeparatedByTheEndOfTextToken() throws IOException {
    Path jsonl = dir.resolve("docs.jsonl.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(jsonl))) {
      out.write("{\"body\": \"Hello world\"}\n\n{\"body\": \"Hello\"}\n"
          .getBytes(StandardCharsets.UTF_8));
    }
    Path text = dir.resolve("more.txt");
    Files.writeString(text, " world");
    Manifest m = Tokenize.run(gpt2, new Tokenize.Settings(List.of(jsonl, text),
        dir.resolve("out"), "body", 1_000, 0, 0), (t, b) -> { });
    assertThat(m.inputs()).extracting(Manifest.Input::documents).containsExactly(2L, 1L);
    assertThat(m.val()).isNull();
    TokenShard shard = TokenShard.open(dir.resolve("out").resolve("train_000000.bin"), 50_257);
    int[] tokens = new int[(int) shard.size()];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = shard.token(i);
    }
    // "Hello" 15496, " world" 995, <|endoftext|> 50256
    assertThat(tokens).containsExactly(15496, 995, 50256, 15496, 50256, 995);
    assertThat(m.train().get(0).textBytes()).isEqualTo(11 + 5 + 6);
  }

  /** A cut before a paragraph's blank line: GPT-2 reads ".\n\nThe" as ".", "\n", "\nThe"... */
  @Test
  void aPieceIsCutWhereTheTokensOfTheWholeAreCutAnyway() {
    int n = Documents.PIECE_CHARS;
    String paragraph = "x".repeat(n - 10) + ".\n\nThe end." + "y".repeat(20);
    assertThat(Documents.cut(paragraph)).isEqualTo(n - 9); // before the blank line
    String noNewline = "a".repeat(n - 5) + " bc" + "d".repeat(10);
    assertThat(Documents.cut(noNewline)).isEqualTo(n - 5);
    String noSpace = "z".repeat(n + 10);
    assertThat(Documents.cut(noSpace)).isEqualTo(n);
    for (String text : new String[] {paragraph, noNewline}) {
      int cut = Documents.cut(text);
      int[] together = gpt2.encode(text);
      int[] first = gpt2.encode(text.substring(0, cut));
      int[] second = gpt2.encode(text.substring(cut));
      int[] joined = java.util.stream.IntStream.concat(java.util.Arrays.stream(first),
          java.util.Arrays.stream(second)).toArray();
      assertThat(joined).containsExactly(together);
    }
  }

  @Test
  void badInputIsRefusedInOneLineAndLeavesNothingBehind() throws IOException {
    Path out = dir.resolve("out");
    Path noField = dir.resolve("a.jsonl");
    Files.writeString(noField, "{\"text\": \"fine\"}\n{\"content\": \"x\"}\n");
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(noField), out,
        "text", 1_000, 0, 0.1), (t, b) -> { })).hasMessage("input " + noField + " line 2 has no "
        + "string field \"text\" (its fields: content); name the field with --field");
    assertThat(out).isEmptyDirectory();
    Path notJson = dir.resolve("b.jsonl");
    Files.writeString(notJson, "{\"text\": \"fine\"}\nnot json\n");
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(notJson), out,
        "text", 1_000, 0, 0.1), (t, b) -> { }))
        .hasMessageStartingWith("input " + notJson + " line 2 is not JSON: ");
    Path latin1 = dir.resolve("c.txt");
    Files.write(latin1, new byte[] {'c', 'a', 'f', (byte) 0xe9, '!'});
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(latin1), out,
        "text", 1_000, 0, 0.1), (t, b) -> { })).hasMessage("input " + latin1
        + " is not UTF-8 text");
    Path empty = dir.resolve("e.txt");
    Files.writeString(empty, "");
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(empty), out,
        "text", 1_000, 0, 0.1), (t, b) -> { }))
        .hasMessage("the inputs hold no text to tokenize");
    Path small = dir.resolve("f.txt");
    Files.writeString(small, "Hello world");
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(small), out,
        "text", 1_000, 2, 0), (t, b) -> { }))
        .hasMessage("holding out 2 tokens leaves none to train on: the inputs give 2");
    assertThat(out).isEmptyDirectory();
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(
        dir.resolve("absent.txt")), out, "text", 1_000, 0, 0.1), (t, b) -> { }))
        .hasMessage("input " + dir.resolve("absent.txt") + " does not exist");
    // Data written once is not written over.
    Tokenize.run(gpt2, new Tokenize.Settings(List.of(small), out, "text", 1_000, 1, 0),
        (t, b) -> { });
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(small), out,
        "text", 1_000, 1, 0), (t, b) -> { })).hasMessageContaining("holds tokenized data");
  }

  @Test
  void aFileThatIsNotATokenizerIsRefusedByName() throws IOException {
    Path notJson = dir.resolve("tokenizer.json");
    Files.writeString(notJson, "vocab: 5");
    assertThatThrownBy(() -> TokenizerFile.load(notJson)).hasMessageStartingWith(notJson
        + " is not a Hugging Face tokenizer.json: it is not JSON");
    Files.writeString(notJson, "{\"version\": \"1.0\", \"added_tokens\": []}");
    assertThatThrownBy(() -> TokenizerFile.load(notJson)).hasMessage(notJson + " is not a "
        + "Hugging Face tokenizer.json: it has no \"model\" object with a \"type\" (its fields: "
        + "version, added_tokens)");
    assertThatThrownBy(() -> TokenizerFile.load(dir.resolve("none.json")))
        .hasMessage("tokenizer " + dir.resolve("none.json") + " does not exist");
  }
}
