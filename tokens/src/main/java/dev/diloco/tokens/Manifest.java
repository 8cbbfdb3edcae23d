package dev.diloco.tokens;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@code diloco tokenize} wrote ({@code manifest.json} beside the shards): the tokenizer
 * (file name, SHA-256, vocabulary size, end-of-text id), the inputs, and each shard with its
 * tokens, the bytes of text they stand for and its SHA-256. A run records the manifest's own
 * SHA-256, so a worker given other data is refused by name.
 *
 * @param tokenWidth bytes per token in the shards: 2 (uint16) or 4 (uint32)
 */
public record Manifest(String format, TokenizerInfo tokenizer, int tokenWidth, List<Input> inputs,
    List<Shard> train, Shard val) {

  public static final String FILE = "manifest.json";
  public static final String FORMAT = "diloco token shards 1";

  /** The tokenizer the shards were made with; {@code endOfText} null when it has none. */
  public record TokenizerInfo(String file, String sha256, int vocabSize, Integer endOfText) {}

  /** One input, as given, and the documents read from it. */
  public record Input(String path, long documents) {}

  /** One shard, named relative to the manifest. */
  public record Shard(String file, long tokens, long textBytes, String sha256) {}

  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(SerializationFeature.INDENT_OUTPUT);

  public Manifest {
    if (!FORMAT.equals(format)) {
      throw new IllegalArgumentException("not a manifest of " + FORMAT + ": its format is "
          + format);
    }
    if (tokenizer == null || train == null || train.isEmpty() || inputs == null) {
      throw new IllegalArgumentException("a manifest names its tokenizer, inputs and at least "
          + "one training shard");
    }
    if (tokenWidth != 2 && tokenWidth != 4) {
      throw new IllegalArgumentException("tokens are 2 or 4 bytes wide, the manifest says "
          + tokenWidth);
    }
  }

  public long trainTokens() {
    return train.stream().mapToLong(Shard::tokens).sum();
  }

  public long trainTextBytes() {
    return train.stream().mapToLong(Shard::textBytes).sum();
  }

  /** Writes {@code dir/manifest.json}. */
  public Path write(Path dir) {
    Path file = dir.resolve(FILE);
    try {
      JSON.writeValue(file.toFile(), this);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
    }
  }

  /** Reads a manifest, refusing by name a file that is not one. */
  public static Manifest read(Path file) {
    try {
      return JSON.readValue(Files.readAllBytes(file), Manifest.class);
    } catch (IOException | IllegalArgumentException e) {
      throw new IllegalArgumentException(file + " is not a manifest of " + FORMAT + ": "
          + e.getMessage().lines().findFirst().orElse(""), e);
    }
  }
}
