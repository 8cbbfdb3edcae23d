package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.diloco.launcher.options.CommandLines;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

@ExtendWith(NoProcessLeftBehind.class)
@Timeout(value = 420, unit = TimeUnit.SECONDS)
class RunCommandIntegrationTest {

  @TempDir
  Path dir;

  private static String data() {
    Path shakespeare = Path.of("..", "data", "tinyshakespeare.txt"); // the repository's copy
    return Files.isRegularFile(shakespeare) ? shakespeare.toString() : null;
  }

  private static int run(StringWriter err, String... args) {
    return run(new StringWriter(), err, args);
  }

  private static int run(StringWriter out, StringWriter err, String... args) {
    return Cli.run(out, err, args);
  }

  @Test
  void threeWorkersTrainAFewRoundsAndLeaveARunDirectory() throws Exception {
    Path out = dir.resolve("e2e");
    var args = new java.util.ArrayList<>(java.util.List.of("run", "--workers", "3",
        "--rounds", "2", "--inner-steps", "6", "--out", out.toString()));
    if (data() != null) {
      args.addAll(java.util.List.of("--data", data()));
    }
    // The whole run's meters, scraped while it runs: the newest scrape once every worker has
    // reported a round.
    int metricsPort = MetricsIntegrationTest.freePort();
    args.addAll(java.util.List.of("--metrics-port", Integer.toString(metricsPort)));
    AtomicReference<String> scraped = new AtomicReference<>();
    AtomicBoolean running = new AtomicBoolean(true);
    Thread scraper = new Thread(() -> scrapeWhile(running, metricsPort, scraped), "scraper");
    scraper.start();
    try {
      assertThat(run(new StringWriter(), args.toArray(String[]::new))).isZero();
    } finally {
      running.set(false);
      scraper.join(10_000);
    }
    assertThat(ProcessHandle.current().descendants().count()).as("worker processes").isZero();
    assertThat(scraped.get()).as("a scrape of the run with every worker's report").isNotNull();
    assertThat(Prometheus.value(scraped.get(), "diloco_run_eval_loss{run=\"e2e\",service=\"run\"}"))
        .isPositive();
    assertThat(scraped.get()).contains("diloco_reducer_input_bytes_total{",
        "diloco_kafka_sent_bytes_total{service=\"run\",topic=\"diloco.e2e.weights\"}");
    Prometheus.lint("diloco run's scrape", scraped.get(), dir.resolve("run.prom"));
    assertThatThrownBy(() -> new java.net.Socket("127.0.0.1", metricsPort).close())
        .as("the metrics port is let go with the run").isInstanceOf(java.io.IOException.class);

    JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
    assertThat(summary.get("configuration").get("workers").asInt()).isEqualTo(3);
    JsonNode rounds = summary.get("rounds");
    assertThat(rounds).hasSize(3);
    for (JsonNode r : rounds) {
      assertThat(r.fieldNames()).toIterable().contains("round", "train_loss", "eval_loss",
          "contributors", "bytes_sent", "round_seconds", "compute_utilisation",
          "weights_sha256");
      assertThat(r.get("weights_sha256").asText()).hasSize(64);
    }
    assertThat(rounds.get(2).get("contributors").asInt()).isEqualTo(3);
    assertThat(rounds.get(2).get("bytes_sent").asLong()).isPositive();
    assertThat(rounds.get(2).get("eval_loss").asDouble())
        .isLessThan(rounds.get(0).get("eval_loss").asDouble());

    byte[] png = Files.readAllBytes(out.resolve("loss.png"));
    assertThat(png).startsWith(0x89, 'P', 'N', 'G');
    assertThat(out.resolve("final-weights.safetensors")).isNotEmptyFile();
    assertThat(out.resolve("sample.txt")).isNotEmptyFile();
    assertThat(out.resolve("kafka").resolve("kafka-logs").resolve("meta.properties")).exists();

    // The run directory's log gives back the last round's weights, byte for byte.
    Path exported = dir.resolve("round2.safetensors");
    assertThat(run(new StringWriter(), "export", "--dir", out.toString(), "--round", "2",
        "--out", exported.toString())).isZero();
    assertThat(Files.readAllBytes(exported))
        .isEqualTo(Files.readAllBytes(out.resolve("final-weights.safetensors")));
    StringWriter err = new StringWriter();
    assertThat(run(err, "export", "--dir", out.toString(), "--round", "7", "--out",
        dir.resolve("none").toString())).isEqualTo(1);
    assertThat(err.toString()).contains("run e2e has no committed round 7");
    err = new StringWriter();
    assertThat(run(err, "export", "--dir", out.toString(), "--round", "2", "--format", "hf",
        "--out", dir.resolve("hf").toString())).isEqualTo(1);
    assertThat(err.toString()).contains("a byte-transformer model has no Hugging Face form");
    assertThat(dir.resolve("hf")).doesNotExist();
    err = new StringWriter();
    assertThat(run(err, "export", "--dir", out.toString(), "--round", "2", "--format", "onnx",
        "--out", dir.resolve("onnx").toString())).isEqualTo(1);
    assertThat(err.toString()).contains("--format must be safetensors or hf, got 'onnx'");

    // Every round replays bit for bit, and inspect lists them.
    StringWriter replayed = new StringWriter();
    assertThat(run(replayed, new StringWriter(), "replay", out.toString())).isZero();
    assertThat(replayed.toString()).contains("rounds 0 to 2 of run e2e verified bit for bit");
    StringWriter inspected = new StringWriter();
    assertThat(run(inspected, new StringWriter(), "inspect", "--json", out.toString())).isZero();
    JsonNode inspection = new ObjectMapper().readTree(inspected.toString());
    assertThat(inspection.get("rounds")).hasSize(3);
    assertThat(inspection.get("rounds").get(2).get("contributors")).hasSize(3);
    assertThat(inspection.get("rounds").get(2).get("weightsSha256").asText())
        .isEqualTo(rounds.get(2).get("weights_sha256").asText());
    assertThat(inspection.get("totals").get("pseudoGradientBytes").asLong()).isEqualTo(
        rounds.get(1).get("bytes_sent").asLong() + rounds.get(2).get("bytes_sent").asLong());
    // What the workers read: round 0's weights in full, then round 1 from round 0's sums (a
    // row's report is of the round before its commit).
    assertThat(rounds.get(1).get("bytes_received").asLong())
        .isEqualTo(3 * inspection.get("rounds").get(0).get("weightsBytes").asLong());
    assertThat(rounds.get(2).get("bytes_received").asLong())
        .isEqualTo(3 * inspection.get("rounds").get(1).get("sumBytes").asLong());

    // The table reaches a stdout that is not flushed by itself (a main's System.out).
    StringWriter table = new StringWriter();
    CommandLine inspect = Diloco.commandLine();
    inspect.setOut(new PrintWriter(table, false));
    assertThat(CommandLines.execute(inspect, "inspect", out.toString())).isZero();
    assertThat(table.toString()).contains("run e2e: byte-transformer model").contains("STEPPED");

    // The run id comes from the directory's records: a renamed copy with a name no run id can
    // have replays as it is.
    Path copy = dir.resolve("copy of e2e.AbC");
    copyTree(out, copy);
    StringWriter copied = new StringWriter();
    assertThat(run(copied, new StringWriter(), "replay", copy.toString())).isZero();
    assertThat(copied.toString()).contains("rounds 0 to 2 of run e2e verified bit for bit");

    // A run directory is for one run: a second run there is refused before anything starts.
    err = new StringWriter();
    assertThat(run(err, "run", "--out", out.toString())).isEqualTo(1);
    assertThat(err.toString()).contains("the run directory " + out + " is not empty");

    // Its broker serving it elsewhere: inspect says so in one line.
    try (var serving = dev.diloco.broker.EmbeddedKafkaBroker.builder()
        .logDir(out.resolve("kafka")).start()) {
      err = new StringWriter();
      assertThat(run(err, "inspect", out.toString())).isEqualTo(1);
      assertThat(err.toString()).contains("is in use by another broker")
          .contains("--bootstrap-servers " + serving.bootstrapServers())
          .doesNotContain("\tat ");
    }

    // A run started from the exported checkpoint starts with exactly its weights.
    Path resumed = dir.resolve("resumed");
    var again = new java.util.ArrayList<>(java.util.List.of("run", "--workers", "1",
        "--rounds", "1", "--inner-steps", "2", "--init", exported.toString(), "--out",
        resumed.toString()));
    if (data() != null) {
      again.addAll(java.util.List.of("--data", data()));
    }
    assertThat(run(new StringWriter(), again.toArray(String[]::new))).isZero();
    Path start = dir.resolve("resumed-round0.safetensors");
    assertThat(run(new StringWriter(), "export", "--dir", resumed.toString(), "--round", "0",
        "--out", start.toString())).isZero();
    assertThat(Files.readAllBytes(start)).isEqualTo(Files.readAllBytes(exported));
    JsonNode resumedRounds = new ObjectMapper().readTree(resumed.resolve("summary.json")
        .toFile()).get("rounds");
    assertThat(resumedRounds.get(0).get("weights_sha256").asText())
        .isEqualTo(rounds.get(2).get("weights_sha256").asText());
  }

  /**
   * A run on GPT-2 tokens, end to end: diloco tokenize, then diloco run on its directory. The
   * model's vocabulary is the tokenizer's, the description names the tokenizer and the data,
   * the eval loss is also given in bits per byte, the sample is decoded text, and the replay
   * agrees with every round.
   */
  @Test
  void aRunOnTokensSizesItsModelByTheTokenizerAndReportsBitsPerByte() throws Exception {
    Path text = dir.resolve("text.txt");
    byte[] shakespeare = Files.readAllBytes(Path.of("..", "data", "tinyshakespeare.txt"));
    Files.write(text, java.util.Arrays.copyOf(shakespeare, 40_000));
    Path tokens = dir.resolve("tokens");
    assertThat(run(new StringWriter(), "tokenize", "--tokenizer",
        Path.of("..", "data", "gpt2", "tokenizer.json").toString(), text.toString(), "--out",
        tokens.toString())).isZero();
    Path out = dir.resolve("gpt2");
    StringWriter printed = new StringWriter();
    StringWriter err = new StringWriter();
    assertThat(run(printed, err, "run", "--workers", "1", "--rounds", "2", "--inner-steps", "2",
        "--batch", "2", "--data", tokens.toString(), "--out", out.toString()))
        .as(err.toString()).isZero();
    JsonNode rounds = new ObjectMapper().readTree(out.resolve("summary.json").toFile())
        .get("rounds");
    assertThat(rounds).hasSize(3);
    // Untrained: about ln 50,257 = 10.8 nats a token; a GPT-2 token of this text is 3.3 bytes.
    assertThat(rounds.get(0).get("eval_loss").asDouble()).isBetween(10.5, 11.2);
    for (JsonNode r : rounds) {
      assertThat(r.get("eval_bits_per_byte").asDouble()).isCloseTo(
          r.get("eval_loss").asDouble() / Math.log(2) / 3.3, org.assertj.core.data.Offset.offset(
              0.1 * r.get("eval_bits_per_byte").asDouble()));
    }
    assertThat(Files.readString(out.resolve("sample.txt"))).isNotBlank();
    StringWriter inspected = new StringWriter();
    assertThat(run(inspected, new StringWriter(), "inspect", out.toString())).isZero();
    assertThat(inspected.toString()).contains("reads tokens: vocabulary 50,257, tokenizer "
        + "SHA-256 316c2108d89946786e5900a060d4051619873c20d266b04e392bb466cdde44d8, data "
        + "manifest SHA-256 ");
    assertThat(run(new StringWriter(), new StringWriter(), "replay", out.toString())).isZero();
    // Sampling a round after a prompt, through the run's tokenizer and no other.
    StringWriter sampled = new StringWriter();
    assertThat(run(sampled, new StringWriter(), "sample", out.toString(), "--round", "2",
        "--tokenizer", tokens.resolve("tokenizer.json").toString(), "--prompt", "ROMEO:",
        "--tokens", "20")).isZero();
    assertThat(sampled.toString()).startsWith("ROMEO:").hasSizeGreaterThan(10);
    StringWriter refused = new StringWriter();
    assertThat(run(new StringWriter(), refused, "sample", out.toString(), "--round", "2"))
        .isEqualTo(1);
    assertThat(refused.toString()).contains("reads tokens: give its tokenizer (--tokenizer "
        + "FILE, SHA-256 316c2108");
  }

  @Test
  void badInputIsOneClearLineAndANonZeroExit() {
    StringWriter err = new StringWriter();
    assertThat(run(err, "run", "--wokers", "3")).isEqualTo(2);
    assertThat(err.toString()).contains("Unknown options: '--wokers'")
        .contains("Possible solutions: --workers");

    err = new StringWriter();
    assertThat(run(err, "run", "--data", dir.resolve("nope.txt").toString())).isEqualTo(1);
    assertThat(err.toString()).startsWith("error: data path").contains("does not exist")
        .doesNotContain("\tat ");

    err = new StringWriter();
    assertThat(run(err, "run", "--out", dir.resolve("unreachable").toString(),
        "--bootstrap-servers", "127.0.0.1:1")).isEqualTo(1);
    assertThat(err.toString()).contains("cannot reach the Kafka cluster at 127.0.0.1:1")
        .doesNotContain("\tat ");

    err = new StringWriter();
    assertThat(run(err, "run", "--out", dir.resolve("nan").toString(), "--outer-lr", "NaN"))
        .isEqualTo(1);
    assertThat(err.toString()).contains("the outer learning rate must be a finite number >= 0, "
        + "got NaN");
    assertThat(dir.resolve("nan")).doesNotExist();

    err = new StringWriter();
    assertThat(run(err, "run", "--out", dir.resolve("int3").toString(), "--codec", "int3"))
        .isEqualTo(1);
    assertThat(err.toString())
        .contains("--codec must be fp32, fp16, bf16, int8 or int4, got 'int3'");
    err = new StringWriter();
    assertThat(run(err, "run", "--out", dir.resolve("block3").toString(), "--codec", "int4",
        "--block-size", "3")).isEqualTo(1);
    assertThat(err.toString()).contains("--block-size must be in [8, 4096], got 3")
        .doesNotContain("\tat ");
    assertThat(dir.resolve("block3")).doesNotExist();

    err = new StringWriter();
    assertThat(run(err, "run", "--out", dir.resolve("sideways").toString(), "--overlap",
        "sideways")).isEqualTo(1);
    assertThat(err.toString()).contains("--overlap must be none, eager or delayed, got "
        + "'sideways'");
    assertThat(dir.resolve("sideways")).doesNotExist();

    err = new StringWriter();
    assertThat(run(err, "run", "--init", dir.resolve("none.safetensors").toString()))
        .isEqualTo(1);
    assertThat(err.toString()).contains("none.safetensors (--init) does not exist");

    err = new StringWriter();
    assertThat(run(err, "run", "--data", Path.of("..", "data", "gpt2", "tinyshakespeare.bin")
        .toString(), "--tokenizer", Path.of("..", "data", "gpt2", "tokenizer.json").toString(),
        "--out", dir.resolve("twice").toString())).isEqualTo(1);
    assertThat(err.toString()).contains("--tokenizer tokenizes the text --data names; ")
        .contains("tinyshakespeare.bin holds tokens already");
    assertThat(dir.resolve("twice")).doesNotExist();

    err = new StringWriter();
    assertThat(run(err, "replay", dir.toString())).isEqualTo(1);
    assertThat(err.toString()).contains("is not a run directory of diloco run");
    err = new StringWriter();
    assertThat(run(err, "inspect")).isEqualTo(1);
    assertThat(err.toString()).contains("give a run directory or a cluster");
    err = new StringWriter();
    assertThat(run(err, "replay", "--bootstrap-servers", "127.0.0.1:1")).isEqualTo(1);
    assertThat(err.toString()).contains("on a cluster, say which run with --run");
  }

  /** Scrapes the run every 200 ms while it runs, keeping the newest scrape with reports. */
  private static void scrapeWhile(AtomicBoolean running, int port,
      AtomicReference<String> scraped) {
    HttpClient http = HttpClient.newHttpClient();
    HttpRequest get = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
        .timeout(Duration.ofSeconds(5)).build();
    while (running.get()) {
      try {
        String body = http.send(get, HttpResponse.BodyHandlers.ofString()).body();
        boolean reported = true;
        for (int w = 0; w < 3; w++) {
          reported &= Prometheus.value(body, "diloco_worker_rounds_total{run=\"e2e\","
              + "service=\"run\",worker=\"worker-" + w + "\"}") >= 1;
        }
        if (reported && Prometheus.value(body, "diloco_committed_round{run=\"e2e\","
            + "service=\"run\"}") >= 1) {
          scraped.set(body);
        }
      } catch (IOException notYet) {
        // the run's server is not up yet, or gone
      } catch (InterruptedException e) {
        return;
      }
      try {
        Thread.sleep(200); // the polling interval of a sampler, not a wait for a condition
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (var paths = Files.walk(from)) {
      for (Path p : (Iterable<Path>) paths::iterator) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else if (!p.getFileName().toString().equals(".lock")) {
          Files.copy(p, target);
        }
      }
    }
  }
}
