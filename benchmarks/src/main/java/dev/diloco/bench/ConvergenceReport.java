package dev.diloco.bench;

import dev.diloco.core.codec.BlockCodec;
import dev.diloco.launcher.local.Charts;
import dev.diloco.launcher.local.LocalRun;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.TrainingData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the convergence benchmark writes: convergence.md (the arms, the share of the gap each
 * DiLoCo arm closes, whether it differs from data-parallel beyond noise, and every sweep
 * point), convergence.csv, convergence-sweep.csv, convergence-curves.csv and convergence.png.
 */
final class ConvergenceReport {

  private final ConvergenceSettings s;
  private final TrainingData data;
  private final int parameters;
  /** The unit of a loss: per byte for text read as bytes, per token otherwise. */
  private final String unit;

  ConvergenceReport(ConvergenceSettings settings, TrainingData data, int parameters) {
    this.s = settings;
    this.data = data;
    this.parameters = parameters;
    this.unit = data.vocab() == ModelConfig.VOCAB ? "byte" : "token";
  }

  /** A loss in nats per token as bits per byte of text; "-" where the data cannot say. */
  private String bits(double loss) {
    double b = TrainingData.bitsPerByte(loss, data.evalBytesPerToken());
    return Double.isNaN(b) ? "-" : String.format("%.4f", b);
  }

  /** Writes every file; returns the Markdown. */
  String write(ConvergenceBench.Result result, String command) throws IOException {
    List<ConvergenceArm> arms = result.arms();
    ConvergenceArm single = arm(arms, "single worker");
    ConvergenceArm dp = arm(arms, "data-parallel");
    ConvergenceArm fp16 = arm(arms, "DiLoCo FP16");
    StringBuilder md = new StringBuilder();
    md.append(String.format("Data %s (%,d training %ss%s), model %s (%,d parameters), batch "
        + "%d x %d %ss per worker, %d inner steps per worker, seed %d. Final losses in nats "
        + "per %s on %d held-out windows (± one standard error), and in bits per byte of text "
        + "where the data says its bytes; the sweep chose on %d others; curves on the first "
        + "%d.%n%n", data.source(), data.train().size(), unit, data.manifest() == null ? ""
            : ", tokenizer " + data.manifest().tokenizer().file() + " of "
            + data.vocab() + " tokens", s.model(), parameters,
        s.spec().batch(), s.spec().model().contextLength(), unit, s.budget(),
        s.spec().seed(), unit, s.evalWindows(), s.evalWindows(),
        LocalRun.EVAL_BATCHES * s.spec().batch()));
    if (s.warmStart() > 0) {
      md.append(String.format("Every arm starts from the same warm start: one worker trained "
          + "%d steps at lr %s from the seed's weights (not counted in the budget).%n%n",
          s.warmStart(), s.spec().inner().learningRate()));
    }
    md.append("| arm | workers | H | pseudo-gradients | lr | final eval loss | bits per byte "
        + "| vs data-parallel (paired) | gap closed | bytes sent per worker | bytes received per "
        + "worker | communication vs data-parallel | wall s |\n"
        + "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    StringBuilder csv = new StringBuilder("arm,workers,h,encoding,final_eval_loss,perplexity,"
        + "bytes_sent_per_worker,bytes_received_per_worker,communication_reduction_vs_dp,"
        + "wall_seconds,error_feedback,loss_vs_fp16,sent_vs_fp16,learning_rate,"
        + "standard_error,loss_vs_dp,paired_error_vs_dp,gap_closed,bits_per_byte\n");
    for (ConvergenceArm a : arms) {
      ConvergenceArm ref = reference(arms, a, dp);
      boolean diloco = a.name().startsWith("DiLoCo");
      boolean counted = a.bytesPerWorker() > 0;
      double reduction = counted ? (double) dp.bytesPerWorker() / a.bytesPerWorker() : 0;
      double gap = diloco ? closed(single, ref, a) : Double.NaN;
      double vsDp = a.finalLoss() - ref.finalLoss();
      double paired = a == ref ? 0 : a.test().pairedError(ref.test());
      String codec = !diloco ? "-" : a.format().codec() instanceof BlockCodec b
          ? b.encoding() + " (" + b.blockSize() + ")" + (a.feedback() ? " + EF" : "")
          : a.format().encoding().toString();
      md.append(String.format("| %s | %d | %s | %s | %s | %.4f ± %.4f | %s | %s | %s | %s | %s "
          + "| %s | %.0f |%n", a.name(), a.workers(), diloco ? Integer.toString(a.h()) : "-",
          codec, a.learningRate(), a.finalLoss(), a.test().standardError(), bits(a.finalLoss()),
          a == ref ? "reference" : String.format("%+.4f ± %.4f", vsDp, paired),
          diloco ? String.format("%.0f%%", 100 * gap) : "-",
          counted || !diloco ? String.format("%,d", a.bytesUpPerWorker()) : "-",
          counted || !diloco ? String.format("%,d", a.bytesDownPerWorker()) : "-",
          a == ref ? "1x (reference)" : counted ? String.format("%.0fx less", reduction)
              : diloco ? "-" : "none", a.seconds()));
      csv.append(String.format("%s,%d,%s,%s,%.6f,%.6f,%d,%d,%.3f,%.1f,%b,%.6f,%.4f,%s,%.6f,"
          + "%.6f,%.6f,%.4f,%s%n", a.name(), a.workers(), diloco ? a.h() : "-",
          diloco ? a.format().encoding() : "", a.finalLoss(), Math.exp(a.finalLoss()),
          a.bytesUpPerWorker(), a.bytesDownPerWorker(), reduction, a.seconds(), a.feedback(),
          a.finalLoss() / fp16.finalLoss() - 1,
          diloco ? (double) a.bytesUpPerWorker() / fp16.bytesUpPerWorker() : 0,
          a.learningRate(), a.test().standardError(), vsDp, paired, gap, bits(a.finalLoss())));
    }
    md.append(verdict(single, dp, fp16));
    arms.stream().filter(a -> a.name().equals(ConvergenceBench.IN_PROCESS)).findFirst()
        .ifPresent(in -> md.append(agreement(fp16, in)));
    md.append(sweepTable(result.sweep()));
    md.append(String.format("%nlr: the rate swept (inner for single and data-parallel, outer "
        + "for DiLoCo; DiLoCo's inner rate is the single worker's best). Gap closed: (single "
        + "− arm) / (single − data-parallel of the same k). Paired: the standard error of the "
        + "difference over the same windows. Data-parallel bytes are counted, not sent: each "
        + "step a worker sends its FP32 gradient (4 bytes a parameter) and receives the mean. "
        + "DiLoCo's are what the workers measured: the pseudo-gradient records they published, "
        + "and the records they read to get each round's weights (round 0's FP32 weights in "
        + "full, then each round's exact sums, from which a worker steps itself). Arms marked "
        + "in process compute the pipeline's arithmetic in this process (their bytes are those "
        + "of the pipeline arm of the same codec).%n%nCommand: `%s`%n", command));
    Files.writeString(s.out().resolve("convergence.md"), md);
    Files.writeString(s.out().resolve("convergence.csv"), csv);
    Files.writeString(s.out().resolve("convergence-sweep.csv"), sweepCsv(result.sweep()));
    StringBuilder curves = new StringBuilder("arm,inner_steps,eval_loss\n");
    for (ConvergenceArm a : arms) {
      for (int i = 0; i < a.steps().size(); i++) {
        curves.append(String.format("%s,%d,%.6f%n", a.name(), a.steps().get(i),
            a.evalLoss().get(i)));
      }
    }
    Files.writeString(s.out().resolve("convergence-curves.csv"), curves);
    plot(arms, s.out().resolve("convergence.png"), unit);
    return md.toString();
  }

  /** The headline: the gap FP16 DiLoCo closes, and its difference to data-parallel. */
  private static String verdict(ConvergenceArm single, ConvergenceArm dp,
      ConvergenceArm fp16) {
    double diff = fp16.finalLoss() - dp.finalLoss();
    double paired = fp16.test().pairedError(dp.test());
    double unpaired = Math.hypot(fp16.test().standardError(), dp.test().standardError());
    return String.format("%nDiLoCo FP16 closes %.1f%% of the gap from one worker (%.4f) to "
        + "data-parallel (%.4f), with %.0fx less communication. DiLoCo FP16 − data-parallel = "
        + "%+.4f ± %.4f (the paired standard error; their errors alone, combined: %.4f): %s.%n%n",
        100 * closed(single, dp, fp16), single.finalLoss(), dp.finalLoss(),
        (double) dp.bytesPerWorker() / fp16.bytesPerWorker(), diff, paired, unpaired,
        Math.abs(diff) > 2 * paired ? "more than twice its error, a real difference"
            : "within noise, less than twice its error");
  }

  /** Whether the in-process arithmetic reached the pipeline's weights. */
  private static String agreement(ConvergenceArm pipeline, ConvergenceArm in) {
    float[] a = pipeline.weights();
    float[] b = in.weights();
    int differ = 0;
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
        differ++;
        max = Math.max(max, Math.abs((double) a[i] - b[i]));
      }
    }
    return differ == 0
        ? String.format("The in-process DiLoCo FP16 arm ends on the pipeline arm's weights bit "
            + "for bit (all %,d parameters): the sweep's points are what the pipeline would "
            + "compute.%n", a.length)
        : String.format("The in-process DiLoCo FP16 arm ends %,d of %,d parameters away from "
            + "the pipeline arm's weights (at most %.3g apart).%n", differ, a.length, max);
  }

  private static String sweepTable(List<Sweep.Point> sweep) {
    StringBuilder md = new StringBuilder("\nThe sweep (each point trained in this process, "
        + "chosen by validation loss):\n\n| arm | lr | validation loss | wall s | chosen |\n"
        + "|---|---|---|---|---|\n");
    for (Sweep.Point p : sweep) {
      md.append(String.format("| %s | %s | %.4f ± %.4f | %.0f | %s |%n", p.arm(),
          p.learningRate(), p.validation().mean(), p.validation().standardError(),
          p.trained().seconds(), !chosen(p, sweep) ? "" : atEdge(p, sweep)
              ? "yes, at the grid's edge: a rate beyond it may do better" : "yes"));
    }
    return md.toString();
  }

  private static String sweepCsv(List<Sweep.Point> sweep) {
    StringBuilder csv = new StringBuilder("arm,learning_rate,validation_loss,standard_error,"
        + "wall_seconds,chosen\n");
    for (Sweep.Point p : sweep) {
      csv.append(String.format("%s,%s,%.6f,%.6f,%.1f,%b%n", p.arm(), p.learningRate(),
          p.validation().mean(), p.validation().standardError(), p.trained().seconds(),
          chosen(p, sweep)));
    }
    return csv.toString();
  }

  private static boolean atEdge(Sweep.Point p, List<Sweep.Point> sweep) {
    var rates = sweep.stream().filter(q -> q.arm().equals(p.arm()))
        .mapToDouble(Sweep.Point::learningRate).summaryStatistics();
    return rates.getCount() > 1
        && (p.learningRate() == rates.getMin() || p.learningRate() == rates.getMax());
  }

  private static boolean chosen(Sweep.Point p, List<Sweep.Point> sweep) {
    return Sweep.best(sweep, p.arm()) == p;
  }

  /** (single − arm) / (single − reference): 1 when the arm reaches data-parallel. */
  private static double closed(ConvergenceArm single, ConvergenceArm reference,
      ConvergenceArm arm) {
    return (single.finalLoss() - arm.finalLoss()) / (single.finalLoss() - reference.finalLoss());
  }

  /** The data-parallel arm with as many workers as {@code a}; the main one when none. */
  private static ConvergenceArm reference(List<ConvergenceArm> arms,
      ConvergenceArm a, ConvergenceArm dp) {
    if (a.name().equals("single worker")) {
      return dp;
    }
    Optional<ConvergenceArm> same = arms.stream()
        .filter(x -> x.name().startsWith("data-parallel") && x.workers() == a.workers())
        .findFirst();
    return same.orElse(dp);
  }

  private static ConvergenceArm arm(List<ConvergenceArm> arms, String name) {
    return arms.stream().filter(a -> a.name().equals(name)).findFirst().orElseThrow();
  }

  /**
   * Eval loss against inner steps, from the first eval after step 0 (where every arm has the
   * same loss, and whose drop would flatten the differences that matter).
   */
  private static void plot(List<ConvergenceArm> arms, Path file, String unit)
      throws IOException {
    Map<String, List<double[]>> series = new LinkedHashMap<>();
    for (ConvergenceArm a : arms) {
      List<double[]> points = new ArrayList<>();
      for (int i = 1; i < a.steps().size(); i++) {
        points.add(new double[] {a.steps().get(i), a.evalLoss().get(i)});
      }
      series.put(a.name(), points);
    }
    // Arms that lie on another (FP16 on FP32, in process on the pipeline): dashed, so both show.
    Charts.lines(file, "Eval loss against inner steps per worker (step 0: "
        + String.format("%.3f", arms.get(0).evalLoss().get(0)) + " for every arm)",
        "inner steps per worker", "eval loss (nats per " + unit + ")", series,
        name -> name.contains("FP16") && !name.equals("DiLoCo FP16"));
  }
}
