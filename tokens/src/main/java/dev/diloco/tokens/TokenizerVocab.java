package dev.diloco.tokens;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.OptionalInt;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * What a tokenizer.json says of its vocabulary: its size (one more than the largest id, of the
 * model's vocabulary and the added tokens), its end-of-text token, and the bytes of text each
 * token stands for. Byte-level BPE (GPT-2, Llama 3) maps every byte to one character of the
 * token's string, so a token is as many bytes as it has characters; SentencePiece-style
 * vocabularies (Llama 2) write a space as U+2581 and a byte as {@code <0xNN>}; special tokens
 * are no text at all.
 *
 * @param tokenBytes the bytes of each token id
 */
record TokenizerVocab(int size, OptionalInt endOfText, int[] tokenBytes) {

  private static final Pattern BYTE_FALLBACK = Pattern.compile("<0x[0-9A-Fa-f]{2}>");

  /** Reads {@code json}; {@code notOne} makes the error for a file that is not a tokenizer. */
  static TokenizerVocab of(JsonNode json, Function<String, RuntimeException> notOne) {
    JsonNode model = json.path("model");
    if (!json.isObject() || !model.isObject() || !model.path("type").isTextual()) {
      throw notOne.apply("it has no \"model\" object with a \"type\""
          + (json.isObject() ? " (its fields: " + TokenizerFile.fieldsOf(json) + ")" : ""));
    }
    Map<Integer, String> pieces = new HashMap<>();
    JsonNode vocab = model.path("vocab");
    if (vocab.isObject()) { // BPE, WordPiece, WordLevel: piece -> id
      for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 0) {
          throw notOne.apply("the id of \"" + e.getKey() + "\" in model.vocab is "
              + e.getValue() + ", not an id");
        }
        pieces.put(e.getValue().asInt(), e.getKey());
      }
    } else if (vocab.isArray()) { // Unigram: [piece, score] by id
      for (int id = 0; id < vocab.size(); id++) {
        pieces.put(id, vocab.get(id).path(0).asText());
      }
    } else {
      throw notOne.apply("its model (" + model.path("type").asText() + ") has no vocab");
    }
    Map<Integer, String> special = new HashMap<>();
    for (JsonNode added : json.path("added_tokens")) {
      int id = added.path("id").asInt(-1);
      if (id < 0 || !added.path("content").isTextual()) {
        throw notOne.apply("an added token has no id or content: " + added);
      }
      pieces.put(id, added.path("content").asText());
      if (added.path("special").asBoolean(false)) {
        special.put(id, added.path("content").asText());
      }
    }
    if (pieces.isEmpty()) {
      throw notOne.apply("its vocabulary is empty");
    }
    int size = pieces.keySet().stream().mapToInt(Integer::intValue).max().getAsInt() + 1;
    boolean byteLevel = json.findValuesAsText("type").contains("ByteLevel");
    int[] bytes = new int[size];
    pieces.forEach((id, piece) -> bytes[id] = special.containsKey(id) ? 0
        : byteLevel ? piece.codePointCount(0, piece.length())
        : BYTE_FALLBACK.matcher(piece).matches() ? 1
        : TokenizerFile.utf8Length(piece.replace('\u2581', ' ')));
    OptionalInt endOfText = OptionalInt.empty();
    for (String name : TokenizerFile.END_OF_TEXT) {
      for (Map.Entry<Integer, String> e : special.entrySet()) {
        if (endOfText.isEmpty() && e.getValue().equals(name)) {
          endOfText = OptionalInt.of(e.getKey());
        }
      }
    }
    return new TokenizerVocab(size, endOfText, bytes);
  }
}
