package dev.diloco.tokens;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A Hugging Face {@code tokenizer.json}, run by Hugging Face's own {@code tokenizers} through its
 * maintained Java binding (DJL's, whose jar carries the native library: nothing is downloaded).
 * What the run records of it (its SHA-256, its vocabulary size, its end-of-text token) and the
 * bytes of text each token stands for (for bits per byte) are read from the file itself.
 */
public final class TokenizerFile implements AutoCloseable {

  /** End-of-text tokens by name, in the order they are looked for among the special tokens. */
  public static final List<String> END_OF_TEXT = List.of("<|endoftext|>", "<|end_of_text|>",
      "</s>", "<eos>", "<|eot_id|>");

  private final Path path;
  private final String sha256;
  private final int vocabSize;
  private final OptionalInt endOfText;
  private final int[] tokenBytes;
  private final HuggingFaceTokenizer tokenizer;

  private TokenizerFile(Path path, String sha256, TokenizerVocab vocab,
      HuggingFaceTokenizer tokenizer) {
    this.path = path;
    this.sha256 = sha256;
    this.vocabSize = vocab.size();
    this.endOfText = vocab.endOfText();
    this.tokenBytes = vocab.tokenBytes();
    this.tokenizer = tokenizer;
  }

  /** Loads {@code path}, refusing by name a file that is not a tokenizer.json. */
  public static TokenizerFile load(Path path) {
    if (!Files.isRegularFile(path)) {
      throw new IllegalArgumentException("tokenizer " + path + (Files.exists(path)
          ? " is not a regular file" : " does not exist"));
    }
    try {
      byte[] bytes = Files.readAllBytes(path);
      JsonNode json;
      try {
        json = new ObjectMapper().readTree(bytes);
      } catch (IOException e) {
        throw notOne(path, "it is not JSON ("
            + e.getMessage().lines().findFirst().orElse("") + ")");
      }
      TokenizerVocab vocab = TokenizerVocab.of(json, why -> notOne(path, why));
      // DJL reads the offline property: with the native library in its jar, it never downloads.
      System.setProperty("offline", "true");
      HuggingFaceTokenizer tokenizer;
      try {
        tokenizer = HuggingFaceTokenizer.newInstance(path, Map.of("addSpecialTokens", "false",
            "truncation", "false", "padding", "false"));
      } catch (RuntimeException e) {
        throw notOne(path, "Hugging Face tokenizers refuses it: " + e.getMessage());
      }
      return new TokenizerFile(path, Sha256.of(path), vocab, tokenizer);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read tokenizer " + path + ": " + e.getMessage(), e);
    }
  }

  private static IllegalArgumentException notOne(Path path, String why) {
    return new IllegalArgumentException(path + " is not a Hugging Face tokenizer.json: " + why);
  }

  public Path path() {
    return path;
  }

  /** The SHA-256 of the file, in hex: what a run records to know its tokenizer again. */
  public String sha256() {
    return sha256;
  }

  /** One more than the largest token id. */
  public int vocabSize() {
    return vocabSize;
  }

  /** The id of the token put between documents, when the tokenizer has one. */
  public OptionalInt endOfText() {
    return endOfText;
  }

  /** The bytes of text token {@code id} stands for (0 for special tokens). */
  public int bytesOf(int id) {
    return tokenBytes[id];
  }

  /** The tokens of {@code text}, with no special token added. */
  public int[] encode(String text) {
    long[] ids = tokenizer.encode(text, false, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = Math.toIntExact(ids[i]);
    }
    return out;
  }

  /**
   * The tokens of each of {@code texts}, with no special token added: encoded in one call, which
   * the library spreads over the machine's cores.
   */
  public int[][] encode(List<String> texts) {
    var encodings = tokenizer.batchEncode(texts, false, false);
    int[][] out = new int[encodings.length][];
    for (int t = 0; t < out.length; t++) {
      long[] ids = encodings[t].getIds();
      out[t] = new int[ids.length];
      for (int i = 0; i < ids.length; i++) {
        out[t][i] = Math.toIntExact(ids[i]);
      }
    }
    return out;
  }

  /** The text of {@code ids}. */
  public String decode(int[] ids) {
    long[] wide = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      wide[i] = ids[i];
    }
    return tokenizer.decode(wide, false);
  }

  /** The UTF-8 bytes of a string, for whoever counts text the way this class does. */
  static int utf8Length(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }

  @Override
  public void close() {
    tokenizer.close();
  }

  /** The names of a JSON object's fields, for messages. */
  static String fieldsOf(JsonNode node) {
    StringBuilder names = new StringBuilder();
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      names.append(names.length() == 0 ? "" : ", ").append(it.next());
    }
    return names.toString();
  }
}
