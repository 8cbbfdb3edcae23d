package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DilocoCommandTest {

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Cli.run(out, err, args);
  }

  @Test
  void helpListsTheBrokerCommandAndExplainsItsOptions() {
    assertThat(run("--help")).isZero();
    assertThat(out.toString()).contains("broker");
    assertThat(run("broker", "--help")).isZero();
    assertThat(out.toString()).contains("--dir", "--port", "--max-record-bytes", "127.0.0.1");
  }

  @Test
  void aWrongOptionIsOneClearLineAndExitCodeTwo() {
    assertThat(run("broker", "--prot", "9092")).isEqualTo(2);
    assertThat(err.toString()).startsWith("error: Unknown options: '--prot', '9092'")
        .contains("Run 'diloco broker --help'")
        .doesNotContain("Usage:");
    assertThat(run("broker", "--port", "ninety")).isEqualTo(2);
    assertThat(err.toString()).contains("error: Invalid value for option '--port': 'ninety' is not an int");
  }

  @Test
  void aPortInUseSaysWhatToDoWithoutAStackTrace(@TempDir Path dir) throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      int port = taken.getLocalPort();
      assertThat(run("broker", "--dir", dir.toString(), "--port", Integer.toString(port)))
          .isEqualTo(1);
    }
    assertThat(err.toString()).startsWith("error: port ").contains("is in use")
        .doesNotContain("Exception").doesNotContain("\tat ");
  }

  @Test
  void tokenizeWritesShardsAndSaysWhatItDidOrWhyNotInOneLine(@TempDir Path dir)
      throws Exception {
    Path text = dir.resolve("a.txt");
    java.nio.file.Files.writeString(text, "To be, or not to be: that is the question.");
    Path gpt2 = Path.of("..", "data", "gpt2", "tokenizer.json");
    assertThat(run("tokenize", "--tokenizer", gpt2.toString(), text.toString(), "--out",
        dir.resolve("out").toString(), "--val-tokens", "3")).isZero();
    assertThat(out.toString()).contains("13 tokens of tokenizer.json (vocabulary 50,257, "
        + "uint16) from 1 inputs: 10 for training in 1 shards, 3 held out")
        .contains("tokens/s");
    assertThat(dir.resolve("out").resolve("manifest.json")).isRegularFile();
    assertThat(run("tokenize", "--tokenizer", text.toString(), text.toString(), "--out",
        dir.resolve("out2").toString())).isEqualTo(1);
    assertThat(err.toString()).contains("error: " + text + " is not a Hugging Face "
        + "tokenizer.json: it is not JSON").doesNotContain("\tat ");
    assertThat(run("tokenize", "--tokenizer", gpt2.toString(), text.toString(), "--out",
        dir.resolve("out3").toString(), "--val-tokens", "3", "--val-fraction", "0.2"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("mutually exclusive");
  }

  @Test
  void aTokenFileWithoutItsVocabularyIsRefusedBeforeAnythingStarts(@TempDir Path dir)
      throws Exception {
    Path bin = dir.resolve("train.bin");
    java.nio.file.Files.write(bin, new byte[64]);
    assertThat(run("run", "--data", bin.toString(), "--out", dir.resolve("r").toString()))
        .isEqualTo(1);
    assertThat(err.toString()).contains("token file " + bin + " has no llm.c header (nanoGPT's "
        + "uint16 tokens alone, say): give its vocabulary (--vocab-size)");
    assertThat(run("run", "--vocab-size", "300", "--out", dir.resolve("s").toString()))
        .isEqualTo(1);
    assertThat(err.toString()).contains("--vocab-size is the vocabulary of the tokens given with "
        + "--data, and there are none");
    assertThat(dir.resolve("r")).doesNotExist();
  }

  @Test
  void aPortOutOfRangeIsRefused(@TempDir Path dir) {
    assertThat(run("broker", "--dir", dir.toString(), "--port", "70000")).isEqualTo(1);
    assertThat(err.toString()).contains("--port must be in 0..65535, got 70000");
  }

  @Test
  void theOptimizerSaysWhatIsMissingInOneLine(@TempDir Path dir) {
    assertThat(run("optimizer")).isEqualTo(2);
    assertThat(err.toString()).contains("Missing required option: '--run=ID'");
    assertThat(run("optimizer", "--run", "r1")).isEqualTo(1);
    assertThat(err.toString()).contains("error: no Kafka bootstrap servers");
    assertThat(run("optimizer", "--run", "r1", "--client-config",
        dir.resolve("absent.properties").toString())).isEqualTo(1);
    assertThat(err.toString()).contains("absent.properties does not exist")
        .doesNotContain("\tat ");
    assertThat(run("optimizer", "--run", "no.dots", "--bootstrap-servers", "127.0.0.1:1"))
        .isEqualTo(1);
    assertThat(err.toString()).contains("run id 'no.dots' is not valid");
  }

  @Test
  void theReducerRefusesBadOptionsInOneLine() {
    assertThat(run("reducer", "--bootstrap-servers", "127.0.0.1:1")).isEqualTo(2);
    assertThat(err.toString()).contains("Missing required option: '--run=ID'");
    // The round timeout moved to the run's description: whoever still gives it is told where.
    assertThat(run("reducer", "--run", "r", "--round-timeout", "90s")).isEqualTo(2);
    assertThat(err.toString()).contains("the round timeout is the run's, in its description: "
        + "set it when the run starts (diloco optimizer --start --round-timeout 90s)");
  }

  @Test
  void theRoundTimeoutIsSetOnceWhenTheRunStartsAndOnlyToOneItCanKeep() {
    assertThat(run("optimizer", "--run", "r", "--start", "--round-timeout", "soon")).isEqualTo(2);
    assertThat(err.toString()).contains("'soon' is not a duration")
        .contains("e.g. 500ms, 90s, 30m, 2h or 30d");
    assertThat(run("optimizer", "--run", "r", "--start", "--round-timeout", "0s")).isEqualTo(2);
    assertThat(err.toString()).contains("'0s' is zero");
    assertThat(run("optimizer", "--run", "r", "--start", "--round-timeout", "8d")).isEqualTo(2);
    assertThat(err.toString()).contains("a round timeout must be more than 0 and at most 7 days");
    assertThat(run("optimizer", "--run", "r", "--round-timeout", "1h", "--bootstrap-servers",
        "127.0.0.1:1")).isEqualTo(2);
    assertThat(err.toString()).contains("--round-timeout is the run's, set once with --start");
  }

  @Test
  void aBadMetricsPortIsRefusedBeforeAnythingRuns() {
    for (String service : new String[] {"worker", "reducer", "optimizer"}) {
      assertThat(run(service, "--run", "r", "--bootstrap-servers", "127.0.0.1:1",
          "--metrics-port", "70000")).as(service).isEqualTo(2);
      assertThat(err.toString()).contains("error: Invalid value for option '--metrics-port': "
          + "a port is in 0..65535, got 70000");
    }
    assertThat(run("run", "--metrics-port", "http")).isEqualTo(2);
    assertThat(err.toString()).contains("'http' is not a port number");
  }

  @Test
  void aBadInnerScheduleIsRefusedBeforeAnythingRuns(@TempDir Path dir) {
    String out = dir.resolve("run").toString();
    assertThat(run("run", "--out", out, "--inner-warmup-steps", "10", "--inner-decay-end", "5"))
        .isEqualTo(1);
    assertThat(err.toString()).contains("--inner-decay-end must be after the warm-up of 10 "
        + "steps, or 0 for no decay; got 5");
    assertThat(run("run", "--out", out, "--inner-decay-end", "100", "--inner-lr-floor", "2"))
        .isEqualTo(1);
    assertThat(err.toString()).contains("--inner-lr-floor must be in [0, 1], got 2.0");
    assertThat(dir.resolve("run")).doesNotExist();
  }

  @Test
  void theServicesHoldNoBenchmarks() {
    assertThat(run("bench")).isEqualTo(2);
    assertThat(err.toString()).contains("Unmatched argument at index 0: 'bench'");
  }

  @Test
  void aBadRetentionIsRefusedBeforeAnythingRuns() {
    assertThat(run("topics", "create", "--run", "r", "--retention", "soon")).isEqualTo(1);
    assertThat(err.toString()).contains("'soon' is not a duration");
    assertThat(run("topics", "create", "--run", "r", "--retention", "1ms")).isEqualTo(1);
    assertThat(err.toString()).contains("retention must be at least 1 h (3600000 ms) or for "
        + "ever, got 1 ms");
  }

  @Test
  void aNonFiniteLearningRateIsRefusedByName(@TempDir Path dir) {
    String out = dir.resolve("run").toString();
    assertThat(run("run", "--out", out, "--inner-lr", "NaN")).isEqualTo(1);
    assertThat(err.toString()).contains("--inner-lr must be a positive number, got NaN");
    assertThat(run("run", "--out", out, "--outer-lr", "Infinity")).isEqualTo(1);
    assertThat(err.toString()).contains("the outer learning rate must be a finite number >= 0, "
        + "got Infinity");
    assertThat(dir.resolve("run")).doesNotExist();
  }

  @Test
  void anEmptyStateDirectoryIsRefused() {
    for (String service : new String[] {"worker", "reducer"}) {
      assertThat(run(service, "--run", "r", "--state-dir", "")).isEqualTo(2);
      assertThat(err.toString()).contains("Invalid value for option '--state-dir': an empty "
          + "path: name a directory");
    }
  }
}
