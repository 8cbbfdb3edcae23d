package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run from a checkpoint Hugging Face transformers wrote (OpenDiLoCo's llama-2m-fresh, in
 * {@code data/hf}), on Tiny Shakespeare as bytes (its vocabulary of 1,024 holds every byte):
 * it trains, replays bit for bit and exports to the input's layout; export, --init, export
 * gives the same bytes.
 */
@ExtendWith(NoProcessLeftBehind.class)
@Timeout(value = 420, unit = TimeUnit.SECONDS)
class HuggingFaceCheckpointIntegrationTest {

  private static final Path FRESH = Path.of("..", "data", "hf", "llama-2m-fresh");
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  @Test
  void openDiLoCosLlamaTrainsReplaysAndExportsToItsOwnLayout() throws Exception {
    Path text = dir.resolve("text.txt");
    byte[] shakespeare = Files.readAllBytes(Path.of("..", "data", "tinyshakespeare.txt"));
    Files.write(text, java.util.Arrays.copyOf(shakespeare, 40_000));
    Path run = dir.resolve("run");
    StringWriter err = new StringWriter();
    assertThat(Cli.run(new StringWriter(), err, "run", "--init", FRESH.toString(), "--data",
        text.toString(), "--workers", "2", "--rounds", "2", "--inner-steps", "3", "--batch", "2",
        "--context", "32", "--out", run.toString())).as(err.toString()).isZero();
    JsonNode rounds = JSON.readTree(run.resolve("summary.json").toFile()).get("rounds");
    assertThat(rounds).hasSize(3);
    // Fresh weights of std 0.02 predict nearly uniformly over 1,024 tokens: ln 1024 = 6.93.
    assertThat(rounds.get(0).get("eval_loss").asDouble()).isCloseTo(6.93,
        org.assertj.core.data.Offset.offset(0.05));
    assertThat(rounds.get(2).get("eval_loss").asDouble())
        .isLessThan(rounds.get(0).get("eval_loss").asDouble() - 0.5);
    assertThat(Cli.run(new StringWriter(), new StringWriter(), "replay", run.toString()))
        .isZero();

    Path exported = dir.resolve("exported");
    assertThat(Cli.run(new StringWriter(), err, "export", run.toString(), "--round", "2",
        "--format", "hf", "--out", exported.toString())).as(err.toString()).isZero();
    assertThat(header(exported)).isEqualTo(header(FRESH)); // names, dtypes, shapes, order
    assertThat(JSON.readTree(exported.resolve("config.json").toFile()))
        .isEqualTo(JSON.readTree(FRESH.resolve("config.json").toFile()));
    assertThat(JSON.readTree(exported.resolve("generation_config.json").toFile()))
        .isEqualTo(JSON.readTree(FRESH.resolve("generation_config.json").toFile()));

    Path again = dir.resolve("again");
    assertThat(Cli.run(new StringWriter(), err, "run", "--init", exported.toString(), "--data",
        text.toString(), "--workers", "1", "--rounds", "1", "--inner-steps", "1", "--batch", "1",
        "--context", "16", "--out", again.toString())).as(err.toString()).isZero();
    Path reexported = dir.resolve("reexported");
    assertThat(Cli.run(new StringWriter(), err, "export", again.toString(), "--round", "0",
        "--format", "hf", "--out", reexported.toString())).as(err.toString()).isZero();
    for (String file : new String[] {"config.json", "generation_config.json",
        "model.safetensors"}) {
      assertThat(reexported.resolve(file)).as(file).hasSameBinaryContentAs(
          exported.resolve(file));
    }

    StringWriter sampled = new StringWriter();
    assertThat(Cli.run(sampled, err, "sample", run.toString(), "--round", "2", "--prompt",
        "ROMEO:", "--tokens", "20")).as(err.toString()).isZero();
    assertThat(sampled.toString()).startsWith("ROMEO:");

    // A checkpoint whose config asks for what this build does not compute: refused by name.
    Path scaled = dir.resolve("scaled");
    Files.createDirectories(scaled);
    Files.copy(FRESH.resolve("model.safetensors"), scaled.resolve("model.safetensors"));
    ObjectNode config = (ObjectNode) JSON.readTree(FRESH.resolve("config.json").toFile());
    config.putObject("rope_scaling").put("type", "linear").put("factor", 2.0);
    Files.writeString(scaled.resolve("config.json"), config.toString());
    StringWriter refused = new StringWriter();
    assertThat(Cli.run(new StringWriter(), refused, "run", "--init", scaled.toString(),
        "--out", dir.resolve("refused").toString())).isEqualTo(1);
    assertThat(refused.toString()).contains("rope_scaling is {\"type\":\"linear\",\"factor\":2.0}"
        + "; this build computes rope_scaling = null only").doesNotContain("\tat ");
    assertThat(dir.resolve("refused")).doesNotExist();
    refused = new StringWriter();
    assertThat(Cli.run(new StringWriter(), refused, "run", "--init", FRESH.toString(),
        "--model", "small", "--out", dir.resolve("refused").toString())).isEqualTo(1);
    assertThat(refused.toString()).contains("a run from a Hugging Face checkpoint is the model "
        + "its config.json says; leave --model out");
  }

  /** The safetensors header of a checkpoint directory's weights, as JSON. */
  private static JsonNode header(Path checkpoint) throws IOException {
    byte[] file = Files.readAllBytes(checkpoint.resolve("model.safetensors"));
    long n = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    return JSON.readTree(new String(file, 8, (int) n, java.nio.charset.StandardCharsets.UTF_8));
  }
}
