package dev.diloco.worker.hf;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.ModelConfig.Family;
import java.util.List;

/**
 * A Hugging Face {@code config.json} as a {@link ModelConfig} and back. Every field that changes
 * the computation of {@code LlamaForCausalLM} or {@code GPT2LMHeadModel} is honoured or refused
 * by name; the others (token ids, versions, dropout, which no forward pass here applies) are
 * kept as they were and come back on export.
 */
public final class HfConfig {
  private HfConfig() {}

  /** The training window of a run from a checkpoint that gives none: at most its positions. */
  public static final int DEFAULT_CONTEXT = 256;

  static final ObjectMapper JSON = new ObjectMapper()
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
      .enable(SerializationFeature.INDENT_OUTPUT);

  /** The model {@code json} describes, on windows of {@code context} tokens (0: a default). */
  public static ModelConfig read(JsonNode json, int context, String where) {
    if (json == null || !json.isObject()) {
      throw new IllegalArgumentException(where + " is not a JSON object");
    }
    String type = json.path("model_type").asText("");
    Family family = switch (type) {
      case "llama" -> Family.LLAMA;
      case "gpt2" -> Family.GPT2;
      default -> throw new IllegalArgumentException(where + ": model_type '" + type + "' is not "
          + "trained by this build: llama (LlamaForCausalLM) or gpt2 (GPT2LMHeadModel)");
    };
    String architecture = family == Family.LLAMA ? "LlamaForCausalLM" : "GPT2LMHeadModel";
    JsonNode architectures = json.path("architectures");
    if (!architectures.isMissingNode() && !architectures.isNull()
        && !List.of(architecture).toString().equals(texts(architectures))) {
      throw new IllegalArgumentException(where + ": architectures " + architectures + "; this "
          + "build reads " + architecture + " for model_type " + type);
    }
    return family == Family.LLAMA ? llama(json, context, where) : gpt2(json, context, where);
  }

  private static ModelConfig llama(JsonNode j, int context, String where) {
    refuseUnless(j, "hidden_act", "silu", where);
    refuseUnless(j, "attention_bias", "false", where);
    refuseUnless(j, "mlp_bias", "false", where);
    refuseUnless(j, "rope_scaling", "null", where);
    int hidden = required(j, "hidden_size", where);
    int heads = required(j, "num_attention_heads", where);
    if (j.hasNonNull("head_dim") && j.get("head_dim").asInt() * heads != hidden) {
      throw new IllegalArgumentException(where + ": head_dim " + j.get("head_dim") + " is not "
          + "hidden_size / num_attention_heads (" + hidden / heads + "), which this build needs");
    }
    int positions = j.path("max_position_embeddings").asInt(2048);
    return new ModelConfig(Family.LLAMA, required(j, "vocab_size", where),
        window(context, positions), positions, required(j, "num_hidden_layers", where), hidden,
        heads, j.path("num_key_value_heads").asInt(heads), required(j, "intermediate_size", where),
        j.path("rms_norm_eps").asDouble(1e-6), j.path("rope_theta").asDouble(10_000),
        j.path("tie_word_embeddings").asBoolean(false), "silu");
  }

  private static ModelConfig gpt2(JsonNode j, int context, String where) {
    refuseUnless(j, "scale_attn_weights", "true", where);
    refuseUnless(j, "scale_attn_by_inverse_layer_idx", "false", where);
    refuseUnless(j, "add_cross_attention", "false", where);
    int embd = j.path("n_embd").asInt(768);
    int positions = j.path("n_positions").asInt(1024);
    return new ModelConfig(Family.GPT2, j.path("vocab_size").asInt(50_257),
        window(context, positions), positions, j.path("n_layer").asInt(12), embd,
        j.path("n_head").asInt(12), j.path("n_head").asInt(12),
        j.hasNonNull("n_inner") ? j.get("n_inner").asInt() : 4 * embd,
        j.path("layer_norm_epsilon").asDouble(1e-5), 0,
        j.path("tie_word_embeddings").asBoolean(true),
        j.path("activation_function").asText("gelu_new"));
  }

  /**
   * The config.json of {@code model}: {@code original}'s fields (a run from a checkpoint) with
   * the computation's fields from the model, or transformers 4.41.2's fields for a preset run;
   * {@code endOfText} (null when unknown) as the begin and end tokens of a preset run.
   */
  public static ObjectNode write(ModelConfig m, JsonNode original, Integer endOfText) {
    ObjectNode j = original != null ? original.deepCopy() : JSON.createObjectNode();
    boolean llama = m.family() == Family.LLAMA;
    if (!llama && m.family() != Family.GPT2) {
      throw new IllegalArgumentException("a " + m.family().wireName() + " model has no Hugging "
          + "Face form: export it as safetensors, or train a llama or gpt2 model");
    }
    if (original == null) {
      j.putArray("architectures").add(llama ? "LlamaForCausalLM" : "GPT2LMHeadModel");
      j.put("model_type", llama ? "llama" : "gpt2");
      Integer bos = endOfText != null ? endOfText : llama ? Integer.valueOf(1) : null;
      Integer eos = endOfText != null ? endOfText : llama ? Integer.valueOf(2) : null;
      j.put("bos_token_id", bos);
      j.put("eos_token_id", eos);
      j.put("initializer_range", 0.02);
      j.put("transformers_version", "4.41.2");
      j.put("use_cache", true);
      if (llama) {
        j.put("attention_bias", false).put("attention_dropout", 0.0).put("mlp_bias", false)
            .put("pretraining_tp", 1).putNull("rope_scaling");
      } else {
        j.put("attn_pdrop", 0.0).put("embd_pdrop", 0.0).put("resid_pdrop", 0.0)
            .put("scale_attn_weights", true).put("scale_attn_by_inverse_layer_idx", false)
            .put("reorder_and_upcast_attn", false).put("summary_activation", (String) null);
      }
    }
    j.put("vocab_size", m.vocab());
    j.put("tie_word_embeddings", m.tiedHead());
    j.put("torch_dtype", "float32"); // what export writes, whatever the checkpoint's was
    if (llama) {
      j.put("hidden_act", "silu").put("hidden_size", m.dModel())
          .put("intermediate_size", m.mlpHidden()).put("max_position_embeddings", m.maxPositions())
          .put("num_attention_heads", m.heads()).put("num_hidden_layers", m.layers())
          .put("num_key_value_heads", m.kvHeads()).put("rms_norm_eps", m.normEps())
          .put("rope_theta", m.ropeTheta());
    } else {
      j.put("activation_function", m.activation()).put("layer_norm_epsilon", m.normEps())
          .put("n_embd", m.dModel()).put("n_head", m.heads()).put("n_layer", m.layers())
          .put("n_positions", m.maxPositions());
      if (m.mlpHidden() != 4 * m.dModel()) {
        j.put("n_inner", m.mlpHidden());
      } else if (original == null) {
        j.putNull("n_inner"); // GPT-2's 4 x n_embd; a checkpoint's own n_inner is left as it was
      }
    }
    return j;
  }

  /** {@code json} as transformers writes it: keys sorted, indented by 2, a final newline. */
  public static String text(JsonNode json) {
    try {
      var indent = new DefaultIndenter("  ", "\n");
      var printer = new DefaultPrettyPrinter(Separators.createDefaultInstance()
          .withObjectFieldValueSpacing(Separators.Spacing.AFTER))
          .withObjectIndenter(indent).withArrayIndenter(indent);
      return JSON.writer(printer).writeValueAsString(JSON.treeToValue(json, Object.class)) + "\n";
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static int window(int context, int positions) {
    int t = context > 0 ? context : Math.min(DEFAULT_CONTEXT, positions);
    if (t > positions) {
      throw new IllegalArgumentException("--context " + t + " is longer than the model's "
          + positions + " positions");
    }
    return t;
  }

  private static int required(JsonNode j, String field, String where) {
    if (!j.path(field).canConvertToInt() || j.get(field).asInt() < 1) {
      throw new IllegalArgumentException(where + ": " + field + " must be a positive integer, "
          + "got " + j.path(field));
    }
    return j.get(field).asInt();
  }

  /** A field that changes the computation in a way this build does not: refused by name. */
  private static void refuseUnless(JsonNode j, String field, String expected, String where) {
    JsonNode value = j.get(field);
    String text = value == null ? null : value.isTextual() ? value.asText() : value.toString();
    if (text != null && !text.equals(expected)) {
      throw new IllegalArgumentException(where + ": " + field + " is " + value + "; this build "
          + "computes " + field + " = " + expected + " only");
    }
  }

  private static String texts(JsonNode array) {
    List<String> names = new java.util.ArrayList<>();
    array.forEach(a -> names.add(a.asText()));
    return names.toString();
  }
}
