package dev.diloco.tokens;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * The documents of a Parquet file (Hugging Face datasets' format), one a row of a string
 * column, read through DuckDB's Parquet reader: every codec and encoding, no Hadoop, rows
 * streamed rather than held. Parquet keeps its index at the end of the file, so a gzipped one
 * is first inflated into a temporary file beside nothing else, deleted after.
 */
final class ParquetDocuments {

  private ParquetDocuments() {}

  /** Reads the string column {@code field} of {@code input}; returns its documents. */
  static long read(Path input, boolean gzip, String field, Documents.Sink sink) {
    String name = input.toAbsolutePath().toString();
    // DuckDB reads a name with these as a pattern of files, not as one file.
    if (name.matches(".*[*?\\[\\]{}].*")) {
      throw new IllegalArgumentException("input " + input + ": a Parquet file's name may not "
          + "hold * ? [ ] { } (its reader takes them as a pattern of files); rename it");
    }
    Path file = input;
    try {
      if (gzip) {
        file = Files.createTempFile("diloco-", ".parquet");
        try (InputStream in = Documents.open(input)) {
          Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
        }
      }
      return rows(input, file, field, sink);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read input " + input + ": " + e.getMessage(), e);
    } finally {
      if (file != input) {
        try {
          Files.deleteIfExists(file);
        } catch (IOException e) {
          // a temporary file left in the temporary directory: nothing of the output
        }
      }
    }
  }

  private static long rows(Path input, Path file, String field, Documents.Sink sink) {
    Properties settings = new Properties();
    settings.setProperty("jdbc_stream_results", "true"); // row by row, never the whole column
    // Offline: nothing is fetched or loaded beyond the reader built into the jar.
    settings.setProperty("autoinstall_known_extensions", "false");
    settings.setProperty("autoload_known_extensions", "false");
    try (Connection db = DriverManager.getConnection("jdbc:duckdb:", settings)) {
      Map<String, String> columns = columns(db, file);
      String type = columns.get(field);
      if (type == null) {
        throw new IllegalArgumentException("input " + input + " has no column \"" + field
            + "\" (its columns: " + String.join(", ", columns.keySet()) + "); name the column "
            + "with --field");
      }
      if (!type.equals("VARCHAR")) {
        throw new IllegalArgumentException("input " + input + "'s column \"" + field + "\" "
            + "holds " + type + ", not strings; name a string column with --field");
      }
      String quoted = "\"" + field.replace("\"", "\"\"") + "\"";
      try (PreparedStatement select = db.prepareStatement("SELECT " + quoted
          + " FROM read_parquet(?)")) {
        select.setString(1, file.toAbsolutePath().toString());
        try (ResultSet r = select.executeQuery()) {
          long documents = 0;
          while (r.next()) {
            String text = r.getString(1);
            if (text == null) {
              throw new IllegalArgumentException("input " + input + " row " + (documents + 1)
                  + " has no value in column \"" + field + "\" (null)");
            }
            Documents.document(text, sink);
            documents++;
          }
          return documents;
        }
      }
    } catch (SQLException e) {
      String why = e.getMessage().lines().findFirst().orElse("");
      throw new IllegalArgumentException("input " + input + " is not a Parquet file that can "
          + "be read: " + why, e);
    }
  }

  /** The file's columns and their types, in order. */
  private static Map<String, String> columns(Connection db, Path file) throws SQLException {
    try (PreparedStatement describe = db.prepareStatement(
        "DESCRIBE SELECT * FROM read_parquet(?)")) {
      describe.setString(1, file.toAbsolutePath().toString());
      Map<String, String> columns = new LinkedHashMap<>();
      try (ResultSet r = describe.executeQuery()) {
        while (r.next()) {
          columns.put(r.getString(1), r.getString(2));
        }
      }
      return columns;
    }
  }
}
