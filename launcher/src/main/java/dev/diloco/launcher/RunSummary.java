package dev.diloco.launcher;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** What a run directory tells about a run: summary.json and the loss curve. */
final class RunSummary {

  /** One committed round, as summary.json lists it. */
  record Round(int round, Double trainLoss, double evalLoss, int contributors, long bytesSent,
      double roundSeconds, Double computeUtilisation, String weightsSha256) {}

  private final Map<String, Object> configuration;
  private final List<Round> rounds = new ArrayList<>();

  RunSummary(Map<String, Object> configuration) {
    this.configuration = configuration;
  }

  void add(Round r) {
    rounds.add(r);
  }

  List<Round> rounds() {
    return rounds;
  }

  void writeJson(Path file, Map<String, Object> extra) throws IOException {
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("configuration", configuration);
    json.putAll(extra);
    List<Map<String, Object>> list = new ArrayList<>();
    for (Round r : rounds) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("round", r.round());
      m.put("train_loss", r.trainLoss());
      m.put("eval_loss", r.evalLoss());
      m.put("contributors", r.contributors());
      m.put("bytes_sent", r.bytesSent());
      m.put("round_seconds", r.roundSeconds());
      m.put("compute_utilisation", r.computeUtilisation());
      m.put("weights_sha256", r.weightsSha256());
      list.add(m);
    }
    json.put("rounds", list);
    new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), json);
  }

  void writeLossPng(Path file, String title) throws IOException {
    XYSeries train = new XYSeries("train loss (mean over workers)");
    XYSeries eval = new XYSeries("eval loss (global weights)");
    for (Round r : rounds) {
      if (r.trainLoss() != null) {
        train.add(r.round(), r.trainLoss());
      }
      eval.add(r.round(), r.evalLoss());
    }
    XYSeriesCollection data = new XYSeriesCollection();
    data.addSeries(eval);
    data.addSeries(train);
    JFreeChart chart = ChartFactory.createXYLineChart(title, "round", "loss (nats per byte)",
        data, PlotOrientation.VERTICAL, true, false, false);
    ChartUtils.saveChartAsPNG(file.toFile(), chart, 900, 540);
  }
}
