package dev.diloco.tokens;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Parquet input, as Hugging Face datasets ship it: a string column, one document a row, read
 * whatever its codec, its row groups and its encoding, gzipped or not; and every way a file can
 * fail to be that, refused in one line with nothing written.
 */
class ParquetDocumentsTest {

  private static TokenizerFile gpt2;

  @TempDir
  Path dir;

  @BeforeAll
  static void load() {
    gpt2 = TokenizerFile.load(TokenizeTest.GPT2);
  }

  @AfterAll
  static void close() {
    gpt2.close();
  }

  /** Writes {@code select}'s rows as Parquet with DuckDB's writer and {@code options}. */
  private static Path parquet(Path file, String select, String options) throws SQLException {
    try (Connection db = DriverManager.getConnection("jdbc:duckdb:");
        Statement s = db.createStatement()) {
      s.execute("COPY (" + select + ") TO '" + file + "' (FORMAT parquet" + options + ")");
    }
    return file;
  }

  private int[] tokens(Path out) {
    TokenShard shard = TokenShard.open(out.resolve("train_000000.bin"), 50_257);
    int[] tokens = new int[(int) shard.size()];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = shard.token(i);
    }
    return tokens;
  }

  @Test
  void everyCodecAndRowGroupGivesTheTokensOfItsRowsAsDocuments() throws Exception {
    // 3,000 rows of two repeating documents (so the writer encodes them by dictionary), in row
    // groups of 1,000, beside an id column the reader leaves alone.
    String rows = "SELECT i AS id, CASE WHEN i % 2 = 0 THEN 'Hello world' ELSE 'Hello' END "
        + "AS content FROM range(3000) t(i)";
    // Documents are separated by the end-of-text token: none after the last.
    int[] expected = new int[3000 / 2 * (3 + 2) - 1];
    for (int i = 0, j = 0; i < 3000; i++) {
      for (int t : i % 2 == 0 ? new int[] {15496, 995, 50256} : new int[] {15496, 50256}) {
        if (j < expected.length) {
          expected[j++] = t; // "Hello" 15496, " world" 995, <|endoftext|> 50256
        }
      }
    }
    for (String codec : List.of("snappy", "zstd", "gzip", "uncompressed")) {
      Path file = parquet(dir.resolve(codec + ".parquet"), rows, ", COMPRESSION " + codec
          + ", ROW_GROUP_SIZE 1000");
      Path out = dir.resolve("out-" + codec);
      Manifest m = Tokenize.run(gpt2, new Tokenize.Settings(List.of(file), out, "content",
          1_000_000, 0, 0), (t, b) -> { });
      assertThat(m.inputs()).as(codec).extracting(Manifest.Input::documents)
          .containsExactly(3000L);
      assertThat(m.train().get(0).textBytes()).isEqualTo(1500L * 11 + 1500L * 5);
      assertThat(tokens(out)).as(codec).isEqualTo(expected);
    }
    // Gzipped whole, as a download may be.
    Path gz = dir.resolve("rows.parquet.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
      Files.copy(dir.resolve("snappy.parquet"), out);
    }
    Manifest m = Tokenize.run(gpt2, new Tokenize.Settings(List.of(gz), dir.resolve("out-gz"),
        "content", 1_000_000, 0, 0), (t, b) -> { });
    assertThat(m.inputs()).extracting(Manifest.Input::documents).containsExactly(3000L);
    assertThat(tokens(dir.resolve("out-gz"))).isEqualTo(expected);
  }

  @Test
  void aFileThatIsNotParquetOfStringsIsRefusedInOneLine() throws Exception {
    Path out = dir.resolve("out");
    Path docs = parquet(dir.resolve("docs.parquet"),
        "SELECT 'a' AS body, 1 AS n UNION ALL SELECT NULL, 2", "");
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(docs), out,
        "text", 1_000, 0, 0), (t, b) -> { })).hasMessage("input " + docs + " has no column "
        + "\"text\" (its columns: body, n); name the column with --field");
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(docs), out,
        "n", 1_000, 0, 0), (t, b) -> { })).hasMessage("input " + docs + "'s column \"n\" holds "
        + "INTEGER, not strings; name a string column with --field");
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(docs), out,
        "body", 1_000, 0, 0), (t, b) -> { })).hasMessage("input " + docs + " row 2 has no "
        + "value in column \"body\" (null)");
    Path truncated = dir.resolve("cut.parquet");
    byte[] whole = Files.readAllBytes(docs);
    Files.write(truncated, java.util.Arrays.copyOf(whole, whole.length - 10));
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(truncated), out,
        "body", 1_000, 0, 0), (t, b) -> { })).hasMessageStartingWith("input " + truncated
        + " is not a Parquet file that can be read: ");
    Path text = dir.resolve("text.parquet");
    Files.writeString(text, "PAR1 and then words");
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(text), out,
        "body", 1_000, 0, 0), (t, b) -> { })).hasMessageStartingWith("input " + text
        + " is not a Parquet file that can be read: ");
    Path pattern = Files.copy(docs, dir.resolve("d[1].parquet"));
    assertThatThrownBy(() -> Tokenize.run(gpt2, new Tokenize.Settings(List.of(pattern), out,
        "body", 1_000, 0, 0), (t, b) -> { })).hasMessageContaining("may not hold * ? [ ] { }");
    assertThat(out).isEmptyDirectory();
  }
}
