package dev.diloco.worker.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.layout.Safetensors;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfCheckpointTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  @Test
  void aPresetsCheckpointReadsBackAsTheSameModelAndWeights() throws IOException {
    for (String preset : new String[] {"llama-2m", "gpt2-mini"}) {
      ModelConfig config = ModelConfig.preset(preset).withVocab(300).withContext(16);
      LanguageModel model = LanguageModel.of(config, 1, 3);
      float[] weights = new float[(int) model.layout().totalElements()];
      model.parameters(weights);
      Path out = dir.resolve(preset);
      HfCheckpoint.write(out, config, model.layout(), weights, null, 299);
      assertThat(HfCheckpoint.config(out, 16)).isEqualTo(config);
      assertThat(HfCheckpoint.weights(out, config, model.layout())).isEqualTo(weights);
      JsonNode written = JSON.readTree(out.resolve("config.json").toFile());
      assertThat(written.get("eos_token_id").asInt()).isEqualTo(299);
      assertThat(written.get("torch_dtype").asText()).isEqualTo("float32");
      assertThat(JSON.readTree(out.resolve("generation_config.json").toFile())
          .get("bos_token_id").asInt()).isEqualTo(299);
    }
    // GPT-2's tied head is not written: its loader ties it to the token embedding.
    assertThat(Files.readString(dir.resolve("gpt2-mini").resolve("model.safetensors")
        .resolveSibling("model.safetensors"), java.nio.charset.StandardCharsets.ISO_8859_1))
        .doesNotContain("lm_head").contains("transformer.h.3.attn.c_attn.bias");
  }

  /**
   * OpenAI's own upload of GPT-2 names its tensors without "transformer." and keeps the causal
   * mask as buffers ("h.0.attn.bias"); some savers write a tied head again. All read.
   */
  @Test
  void gpt2TensorsWithoutThePrefixMaskBuffersAndATiedHeadWrittenTwiceAreRead()
      throws IOException {
    ModelConfig config = ModelConfig.gpt2(50, 8, 8, 1, 8, 2);
    LanguageModel model = LanguageModel.of(config, 1, 3);
    ParameterLayout layout = model.layout();
    float[] weights = new float[(int) layout.totalElements()];
    model.parameters(weights);
    ParameterLayout.Builder renamed = ParameterLayout.builder();
    for (ParameterLayout.Tensor t : layout.tensors()) {
      renamed.add(t.name().substring("transformer.".length()),
          t.shape().stream().mapToInt(Integer::intValue).toArray());
    }
    renamed.add("h.0.attn.bias", 1, 1, 8, 8).add("lm_head.weight", 50, 8);
    float[] more = java.util.Arrays.copyOf(weights, weights.length + 64 + 400);
    Path out = dir.resolve("openai");
    Files.createDirectories(out);
    Safetensors.write(out.resolve("model.safetensors"), renamed.build(), more,
        Map.of("format", "pt"));
    HfCheckpoint.write(dir.resolve("ours"), config, layout, weights, null, null);
    Files.copy(dir.resolve("ours").resolve("config.json"), out.resolve("config.json"));
    assertThat(HfCheckpoint.weights(out, HfCheckpoint.config(out, 8), layout))
        .isEqualTo(weights);
  }

  @Test
  void whatThisBuildDoesNotComputeIsRefusedByName() throws IOException {
    ObjectNode llama = (ObjectNode) JSON.readTree(Path.of("..", "data", "hf",
        "llama-2m-fresh", "config.json").toFile());
    Map<String, String> refusals = Map.of(
        "hidden_act", "hidden_act is \"gelu\"; this build computes hidden_act = silu only",
        "attention_bias", "attention_bias is true; this build computes attention_bias = false",
        "mlp_bias", "mlp_bias is true",
        "head_dim", "head_dim 16 is not hidden_size / num_attention_heads (32)",
        "model_type", "model_type 'mistral' is not trained by this build",
        "architectures", "architectures [\"LlamaForSequenceClassification\"]",
        "num_hidden_layers", "num_hidden_layers must be a positive integer, got 0");
    for (Map.Entry<String, String> r : refusals.entrySet()) {
      ObjectNode bad = llama.deepCopy();
      switch (r.getKey()) {
        case "hidden_act" -> bad.put("hidden_act", "gelu");
        case "attention_bias" -> bad.put("attention_bias", true);
        case "mlp_bias" -> bad.put("mlp_bias", true);
        case "head_dim" -> bad.put("head_dim", 16);
        case "model_type" -> bad.put("model_type", "mistral");
        case "architectures" -> bad.putArray("architectures")
            .add("LlamaForSequenceClassification");
        default -> bad.put("num_hidden_layers", 0);
      }
      assertThatThrownBy(() -> HfConfig.read(bad, 0, "config.json")).as(r.getKey())
          .hasMessageContaining(r.getValue()).hasMessageStartingWith("config.json: ");
    }
    ObjectNode gpt2 = JSON.createObjectNode().put("model_type", "gpt2");
    assertThatThrownBy(() -> HfConfig.read(gpt2.deepCopy().put("scale_attn_weights", false), 0,
        "c")).hasMessageContaining("scale_attn_weights is false");
    assertThatThrownBy(() -> HfConfig.read(gpt2.deepCopy().put("activation_function",
        "gelu_fast"), 0, "c")).hasMessageContaining("activation is gelu_new or gelu or relu, "
        + "got 'gelu_fast'");
    assertThatThrownBy(() -> HfConfig.read(llama, 4096, "c")).hasMessageContaining(
        "--context 4096 is longer than the model's 2048 positions");
    assertThat(HfConfig.read(llama, 0, "c").contextLength()).isEqualTo(256);
    // Not a checkpoint: said so, and what is missing.
    Files.createDirectories(dir.resolve("empty"));
    assertThatThrownBy(() -> HfCheckpoint.config(dir.resolve("empty"), 0))
        .hasMessageContaining("has no config.json");
    Files.writeString(dir.resolve("empty").resolve("config.json"), "{not json");
    assertThatThrownBy(() -> HfCheckpoint.config(dir.resolve("empty"), 0))
        .hasMessageContaining("config.json is not JSON");
    // What a run's description keeps of a config.json is bounded, like every string on the wire.
    Files.writeString(dir.resolve("empty").resolve("config.json"), llama.deepCopy()
        .put("_name_or_path", "x".repeat(5000)).toString());
    assertThatThrownBy(() -> HfCheckpoint.compactConfig(dir.resolve("empty")))
        .hasMessageContaining("config.json is 5").hasMessageContaining("bytes as compact JSON; "
            + "a run's description holds at most 4096");
    Files.writeString(dir.resolve("empty").resolve("config.json"), llama.toString());
    assertThat(HfCheckpoint.compactConfig(dir.resolve("empty"))).doesNotContain("\n")
        .startsWith("{\"_name_or_path\":\"configs/config_2m.json\",");
    Files.writeString(dir.resolve("empty").resolve("pytorch_model.bin"), "pickle");
    ModelConfig fresh = HfConfig.read(llama, 16, "c");
    assertThatThrownBy(() -> HfCheckpoint.weights(dir.resolve("empty"), fresh,
        LanguageModel.of(fresh, 1, 0).layout())).hasMessageContaining("it has pytorch_model.bin, "
        + "a pickle this build does not read");
  }
}
