package dev.diloco.launcher.local;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Predicate;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** Line charts of losses, as the run and the benchmarks write them. */
public final class Charts {
  private Charts() {}

  /**
   * Writes a PNG of {@code series} (name to points {x, y}, x whole numbers, in legend order);
   * the y axis spans the data, not zero, so that differences between curves show. Series
   * whose name {@code dashed} accepts are drawn dashed, so that one lying on another shows.
   */
  public static void lines(Path file, String title, String xLabel, String yLabel,
      Map<String, ? extends Iterable<double[]>> series, Predicate<String> dashed)
      throws IOException {
    lines(file, title, xLabel, yLabel, series, dashed, null, Map.of());
  }

  /**
   * As above, with {@code right}'s series drawn against a second axis on the right, labelled
   * {@code rightLabel} (none when {@code right} is empty).
   */
  public static void lines(Path file, String title, String xLabel, String yLabel,
      Map<String, ? extends Iterable<double[]>> series, Predicate<String> dashed,
      String rightLabel, Map<String, ? extends Iterable<double[]>> right) throws IOException {
    XYSeriesCollection data = collection(series);
    JFreeChart chart = ChartFactory.createXYLineChart(title, xLabel, yLabel, data,
        PlotOrientation.VERTICAL, true, false, false);
    XYPlot plot = chart.getXYPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
    plot.getDomainAxis().setStandardTickUnits(NumberAxis.createIntegerTickUnits()); // rounds, steps
    XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
    int i = 0;
    for (String name : series.keySet()) {
      renderer.setSeriesStroke(i++, dashed.test(name)
          ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
              new float[] {6f, 4f}, 0f)
          : new BasicStroke(2f));
    }
    plot.setRenderer(renderer);
    if (!right.isEmpty()) {
      NumberAxis axis = new NumberAxis(rightLabel);
      axis.setAutoRangeIncludesZero(false);
      plot.setRangeAxis(1, axis);
      plot.setDataset(1, collection(right));
      plot.mapDatasetToRangeAxis(1, 1);
      XYLineAndShapeRenderer second = new XYLineAndShapeRenderer(true, true);
      second.setDefaultStroke(new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER,
          10f, new float[] {2f, 3f}, 0f));
      second.setAutoPopulateSeriesStroke(false);
      plot.setRenderer(1, second);
      plot.setDatasetRenderingOrder(org.jfree.chart.plot.DatasetRenderingOrder.FORWARD);
    }
    ChartUtils.saveChartAsPNG(file.toFile(), chart, 900, 540);
  }

  private static XYSeriesCollection collection(Map<String, ? extends Iterable<double[]>> series) {
    XYSeriesCollection data = new XYSeriesCollection();
    series.forEach((name, points) -> {
      XYSeries curve = new XYSeries(name);
      points.forEach(p -> curve.add(p[0], p[1]));
      data.addSeries(curve);
    });
    return data;
  }
}
