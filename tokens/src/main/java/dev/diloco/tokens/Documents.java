package dev.diloco.tokens;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.zip.GZIPInputStream;

/**
 * The documents of one input file, in pieces that a tokenizer takes whole: a text file is one
 * document; a JSON lines file ({@code .jsonl}, {@code .ndjson}, {@code .json}) one per line, its
 * text in a string field; a Parquet file ({@code .parquet}: {@link ParquetDocuments}) one per
 * row of a string column; any may be gzipped (known by its first bytes; a Parquet file by
 * {@code .gz}). A document longer than {@link #PIECE_CHARS} is cut where a byte-level BPE
 * pre-tokenizer (GPT-2's) cuts anyway, between a word and the whitespace after it, so its tokens
 * are those of the whole (a tokenizer that prepends a marker to its input, as SentencePiece's
 * do, marks each piece's start).
 */
final class Documents {

  /**
   * The longest piece handed to the tokenizer, in chars: bounds what the heap holds, and gives
   * the tokenizer pieces to encode side by side.
   */
  static final int PIECE_CHARS = 1 << 16;

  /** Where the documents go. */
  interface Sink {
    void piece(String text);

    void endOfDocument();
  }

  private Documents() {}

  /** Reads {@code input}, JSON lines taking field {@code field}; returns its documents. */
  static long read(Path input, String field, Sink sink) {
    if (!Files.isRegularFile(input)) {
      throw new IllegalArgumentException("input " + input + (Files.exists(input)
          ? " is not a regular file" : " does not exist"));
    }
    String name = input.getFileName().toString().toLowerCase(Locale.ROOT);
    String inner = name.endsWith(".gz") ? name.substring(0, name.length() - 3) : name;
    if (inner.endsWith(".parquet")) {
      return ParquetDocuments.read(input, !inner.equals(name), field, sink);
    }
    try (InputStream in = open(input);
        Reader reader = new InputStreamReader(in, StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT))) {
      boolean jsonLines = inner.endsWith(".jsonl") || inner.endsWith(".ndjson")
          || inner.endsWith(".json");
      return jsonLines ? jsonLines(input, new BufferedReader(reader, 1 << 16), field, sink)
          : text(reader, sink);
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException("input " + input + " is not UTF-8 text", e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read input " + input + ": " + e.getMessage(), e);
    }
  }

  /** The file's bytes, through gzip when it starts with gzip's magic number. */
  static InputStream open(Path input) throws IOException {
    InputStream in = new BufferedInputStream(Files.newInputStream(input), 1 << 16);
    in.mark(2);
    boolean gzip = in.read() == 0x1f && in.read() == 0x8b;
    in.reset();
    return gzip ? new GZIPInputStream(in, 1 << 16) : in;
  }

  private static long text(Reader reader, Sink sink) throws IOException {
    StringBuilder buffer = new StringBuilder();
    char[] chars = new char[1 << 16];
    for (int n; (n = reader.read(chars)) > 0; ) {
      buffer.append(chars, 0, n);
      while (buffer.length() >= PIECE_CHARS + 1) {
        int cut = cut(buffer);
        sink.piece(buffer.substring(0, cut));
        buffer.delete(0, cut);
      }
    }
    if (buffer.length() > 0) {
      sink.piece(buffer.toString());
    }
    sink.endOfDocument();
    return 1;
  }

  /**
   * Where to end the next piece: before the last newline, else the last space, that follows a
   * letter, a digit or ASCII punctuation, before {@link #PIECE_CHARS}. GPT-2's pre-tokenizer
   * never joins such a char to the whitespace after it, and a run of whitespace is split by
   * what follows it, which stays with it in the next piece; so the pieces' tokens are the
   * whole's. Else at the limit (between two chars of a surrogate pair never).
   */
  static int cut(CharSequence text) {
    for (char space : new char[] {'\n', ' '}) {
      for (int i = PIECE_CHARS; i > 0; i--) {
        if (text.charAt(i) == space && endsAWord(text.charAt(i - 1))) {
          return i;
        }
      }
    }
    return Character.isLowSurrogate(text.charAt(PIECE_CHARS)) ? PIECE_CHARS - 1 : PIECE_CHARS;
  }

  private static boolean endsAWord(char c) {
    return Character.isLetterOrDigit(c) || (c < 128 && c > ' ' && c != 127);
  }

  private static long jsonLines(Path input, BufferedReader lines, String field, Sink sink)
      throws IOException {
    ObjectMapper json = new ObjectMapper();
    long documents = 0;
    long number = 0;
    for (String line; (line = lines.readLine()) != null; ) {
      number++;
      if (line.isBlank()) {
        continue;
      }
      JsonNode record;
      try {
        record = json.readTree(line);
      } catch (IOException e) {
        throw new IllegalArgumentException("input " + input + " line " + number + " is not "
            + "JSON: " + e.getMessage().lines().findFirst().orElse(""));
      }
      JsonNode text = record.path(field);
      if (!text.isTextual()) {
        throw new IllegalArgumentException("input " + input + " line " + number + " has no "
            + "string field \"" + field + "\"" + (record.isObject() ? " (its fields: "
            + TokenizerFile.fieldsOf(record) + ")" : "") + "; name the field with --field");
      }
      document(text.asText(), sink);
      documents++;
    }
    return documents;
  }

  /** One document, in pieces of at most {@link #PIECE_CHARS}. */
  static void document(String document, Sink sink) {
    StringBuilder rest = new StringBuilder(document);
    while (rest.length() >= PIECE_CHARS + 1) {
      int cut = cut(rest);
      sink.piece(rest.substring(0, cut));
      rest.delete(0, cut);
    }
    sink.piece(rest.toString());
    sink.endOfDocument();
  }
}
