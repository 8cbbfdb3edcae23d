package dev.diloco.launcher.local;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What a run directory tells about a run: summary.json and the loss curve. */
public final class RunSummary {

  /**
   * One committed round, as summary.json lists it. {@code evalBitsPerByte}: the eval loss as
   * bits per byte of text (null when the data does not say its bytes); {@code bytesReceived}:
   * by the round's contributors, to get its weights (-1: unknown).
   */
  public record Round(int round, Double trainLoss, double evalLoss, Double evalBitsPerByte,
      int contributors, long bytesSent, long bytesReceived, double roundSeconds,
      Double computeUtilisation, String weightsSha256) {}

  private final Map<String, Object> configuration;
  private final List<Round> rounds = new ArrayList<>();

  public RunSummary(Map<String, Object> configuration) {
    this.configuration = configuration;
  }

  public void add(Round r) {
    rounds.add(r);
  }

  public List<Round> rounds() {
    return rounds;
  }

  public void writeJson(Path file, Map<String, Object> extra) throws IOException {
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("configuration", configuration);
    json.putAll(extra);
    List<Map<String, Object>> list = new ArrayList<>();
    for (Round r : rounds) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("round", r.round());
      m.put("train_loss", r.trainLoss());
      m.put("eval_loss", r.evalLoss());
      m.put("eval_bits_per_byte", r.evalBitsPerByte());
      m.put("contributors", r.contributors());
      m.put("bytes_sent", r.bytesSent());
      m.put("bytes_received", r.bytesReceived());
      m.put("round_seconds", r.roundSeconds());
      m.put("compute_utilisation", r.computeUtilisation());
      m.put("weights_sha256", r.weightsSha256());
      list.add(m);
    }
    json.put("rounds", list);
    new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), json);
  }

  public void writeLossPng(Path file, String title) throws IOException {
    List<double[]> eval = new ArrayList<>();
    List<double[]> train = new ArrayList<>();
    List<double[]> bits = new ArrayList<>();
    for (Round r : rounds) {
      if (r.trainLoss() != null) {
        train.add(new double[] {r.round(), r.trainLoss()});
      }
      eval.add(new double[] {r.round(), r.evalLoss()});
      if (r.evalBitsPerByte() != null && Double.isFinite(r.evalBitsPerByte())) {
        bits.add(new double[] {r.round(), r.evalBitsPerByte()});
      }
    }
    Map<String, List<double[]>> series = new LinkedHashMap<>();
    series.put("eval loss (global weights)", eval);
    series.put("train loss (mean over workers)", train);
    // Bits per byte compare runs across tokenizers: the eval curve again, read on the right
    // axis (a fixed multiple of the loss, so the two lines lie on each other).
    Charts.lines(file, title, "round", "loss (nats per token)", series,
        name -> name.startsWith("train"), "eval loss (bits per byte)",
        bits.isEmpty() ? Map.of() : Map.of("eval loss in bits per byte (right axis)", bits));
  }
}
