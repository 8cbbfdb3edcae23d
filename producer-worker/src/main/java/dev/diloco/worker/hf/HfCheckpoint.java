package dev.diloco.worker.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.layout.Safetensors;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.ModelConfig.Family;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;

/**
 * A Hugging Face checkpoint directory, as {@code save_pretrained} writes it and {@code
 * AutoModelForCausalLM.from_pretrained} loads it: {@code config.json}, {@code
 * generation_config.json} and one {@code model.safetensors} whose tensors have the model's
 * Hugging Face names (this project's llama and gpt2 layouts use them as they are).
 */
public final class HfCheckpoint {
  private HfCheckpoint() {}

  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";

  /** Whether {@code path} (or null) is a checkpoint directory: it holds a config.json. */
  public static boolean isCheckpoint(Path path) {
    return path != null && Files.isDirectory(path) && Files.isRegularFile(path.resolve(CONFIG));
  }

  /** The text of {@code dir}'s config.json, checked to be JSON. */
  public static String configText(Path dir) throws IOException {
    Path file = dir.resolve(CONFIG);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("checkpoint " + dir + " has no " + CONFIG + ": a "
          + "Hugging Face checkpoint is a directory written by save_pretrained");
    }
    String text = Files.readString(file, StandardCharsets.UTF_8);
    parse(text, file.toString());
    return text;
  }

  /** The most bytes of config.json a run's description holds (FORMAT.md section 10). */
  public static final int MAX_CONFIG_BYTES = 4096;

  /**
   * {@code dir}'s config.json as one line of JSON, what a run's description keeps of it;
   * refused by name beyond {@link #MAX_CONFIG_BYTES}.
   */
  public static String compactConfig(Path dir) throws IOException {
    String compact = HfConfig.JSON.writer().without(
        com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
        .writeValueAsString(parse(configText(dir),
        dir.resolve(CONFIG).toString()));
    int bytes = compact.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > MAX_CONFIG_BYTES) {
      throw new IllegalArgumentException(dir.resolve(CONFIG) + " is " + bytes + " bytes as "
          + "compact JSON; a run's description holds at most " + MAX_CONFIG_BYTES);
    }
    return compact;
  }

  /** The model {@code dir}'s config.json describes, on windows of {@code context} tokens. */
  public static ModelConfig config(Path dir, int context) throws IOException {
    return HfConfig.read(parse(configText(dir), dir.resolve(CONFIG).toString()), context,
        dir.resolve(CONFIG).toString());
  }

  static JsonNode parse(String text, String where) {
    try {
      return HfConfig.JSON.readTree(text);
    } catch (IOException e) {
      throw new IllegalArgumentException(where + " is not JSON: "
          + (e instanceof com.fasterxml.jackson.core.JsonProcessingException p
              ? p.getOriginalMessage() : e.getMessage()));
    }
  }

  /**
   * {@code dir}'s weights in {@code layout} (the model its config describes): the weights'
   * names are the layout's; GPT-2's may lack the "transformer." prefix (the original OpenAI
   * upload), and its attention-mask buffers and a tied head saved twice are passed over.
   */
  public static float[] weights(Path dir, ModelConfig model, ParameterLayout layout)
      throws IOException {
    Path file = dir.resolve(WEIGHTS);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("checkpoint " + dir + " has no " + WEIGHTS
          + (Files.exists(dir.resolve(WEIGHTS + ".index.json")) ? ": its weights are in "
          + "shards, which this build does not read" : Files.exists(dir.resolve(
          "pytorch_model.bin")) ? ": it has pytorch_model.bin, a pickle this build does not "
          + "read (save it again with safe_serialization)" : ""));
    }
    boolean gpt2 = model.family() == Family.GPT2;
    return Safetensors.read(file, layout, name -> {
      if (model.tiedHead() && name.equals("lm_head.weight")) {
        return null; // the embedding's, written again by some savers
      }
      if (gpt2 && (name.endsWith(".attn.bias") || name.endsWith(".attn.masked_bias"))) {
        return null; // the causal mask as a buffer, in older GPT-2 files
      }
      return gpt2 && !name.startsWith("transformer.") && !name.equals("lm_head.weight")
          ? "transformer." + name : name;
    });
  }

  /**
   * Writes {@code weights} of {@code model} as a checkpoint in {@code dir}: config.json (of
   * {@code originalConfig}, the run's starting config.json, or null), generation_config.json and
   * model.safetensors with the tensors in name order, as transformers' writer puts them.
   */
  public static void write(Path dir, ModelConfig model, ParameterLayout layout, float[] weights,
      String originalConfig, Integer endOfText) throws IOException {
    JsonNode original = originalConfig == null ? null : parse(originalConfig, "the run's config");
    ObjectNode config = HfConfig.write(model, original, endOfText);
    Files.createDirectories(dir);
    Files.writeString(dir.resolve(CONFIG), HfConfig.text(config), StandardCharsets.UTF_8);
    ObjectNode generation = HfConfig.JSON.createObjectNode();
    generation.put("_from_model_config", true);
    for (String field : new String[] {"bos_token_id", "eos_token_id", "transformers_version",
        "use_cache"}) {
      if (config.hasNonNull(field) && !(field.equals("use_cache") && config.get(field)
          .asBoolean())) {
        generation.set(field, config.get(field));
      }
    }
    Files.writeString(dir.resolve("generation_config.json"), HfConfig.text(generation),
        StandardCharsets.UTF_8);
    ParameterLayout.Builder sorted = ParameterLayout.builder();
    float[] data = new float[weights.length];
    int at = 0;
    for (ParameterLayout.Tensor t : layout.tensors().stream()
        .sorted(Comparator.comparing(ParameterLayout.Tensor::name)).toList()) {
      sorted.add(t.name(), t.shape().stream().mapToInt(Integer::intValue).toArray());
      System.arraycopy(weights, (int) t.offset(), data, at, (int) t.elementCount());
      at += (int) t.elementCount();
    }
    Safetensors.write(dir.resolve(WEIGHTS), sorted.build(), data, Map.of("format", "pt"));
  }
}
