package dev.diloco.bench;

import dev.diloco.core.codec.BlockCodec;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.launcher.command.WorkerCommand;
import dev.diloco.launcher.local.Charts;
import dev.diloco.launcher.local.LocalRun;
import dev.diloco.launcher.local.RunSummary;
import dev.diloco.launcher.options.RunSpecOptions;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.Overlap;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.worker.AdamW;
import dev.diloco.worker.BuiltInCorpus;
import dev.diloco.worker.ByteCorpus;
import dev.diloco.worker.ByteTransformer;
import dev.diloco.worker.EvalSet;
import dev.diloco.worker.RunSpec;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * DiLoCo against its baselines on one corpus, with one model, seed, eval set and budget of
 * inner steps per worker (Douillard et al. 2023, Table 2 and Figure 2, at small scale):
 * one worker alone; data-parallel training with k times the batch, synchronised every step
 * (in this process: it is the quality reference, and its communication is counted, not sent);
 * DiLoCo with k workers through the real pipeline (embedded broker, reducer, outer optimizer,
 * one process per worker), with FP32, FP16, INT8 and INT4 pseudo-gradients (the integer codes
 * with error feedback, and INT4 also without); optionally other H and non-iid shards. Writes a Markdown table, a CSV and a plot of eval loss against inner steps.
 */
final class ConvergenceBench {

  /** {@code spec}: the run (model, batch, H, optimizers, seed); {@code rounds} x H = budget. */
  record Settings(String model, RunSpec spec, int workers, int rounds, Path data, Path out,
      List<Integer> sweepH, boolean nonIid, Path init, int blockSize, boolean quick,
      List<Overlap> overlapArms, Set<String> only) {

    /** The arms every table compares against. */
    static final Set<String> REFERENCES = Set.of("data-parallel", "DiLoCo FP16");

    Settings {
      if (workers < 2 || rounds < 1) {
        throw new IllegalArgumentException("the benchmark needs >= 2 workers and >= 1 round, got "
            + workers + " and " + rounds);
      }
      for (int h : sweepH) {
        if (h < 1 || (long) rounds * spec.innerSteps() % h != 0) {
          throw new IllegalArgumentException("each swept H must divide the budget of "
              + rounds * spec.innerSteps() + " inner steps, got " + h);
        }
      }
    }

    int budget() {
      return rounds * spec.innerSteps();
    }
  }

  /** One arm: eval loss at each point of {@code steps} (inner steps per worker), and its cost. */
  record Arm(String name, int workers, int h, PayloadFormat format, boolean feedback,
      List<Integer> steps,
      List<Double> evalLoss, long bytesUpPerWorker, long bytesDownPerWorker, double seconds) {
    double finalLoss() {
      return evalLoss.get(evalLoss.size() - 1);
    }

    long bytesPerWorker() {
      return bytesUpPerWorker + bytesDownPerWorker;
    }
  }

  private final Settings s;
  private final PrintStream console;
  private final ByteCorpus corpus;
  private final EvalSet eval;
  private final float[] initial;

  ConvergenceBench(Settings settings, PrintStream console) throws IOException {
    this.s = settings;
    this.console = console;
    this.corpus = settings.data() != null ? ByteCorpus.load(settings.data(), 0.1)
        : ByteCorpus.of(BuiltInCorpus.generate(1 << 22, 1), 0.1, "built-in");
    ByteTransformer model = settings.spec().newModel();
    this.eval = new EvalSet(corpus.evalSlice(), LocalRun.EVAL_BATCHES, model.batch(),
        settings.spec().model().contextLength(), settings.spec().seed());
    this.initial = RunSpecOptions.initialWeights(model, settings.init());
  }

  /** An arm to run, by name. */
  private interface Runs {
    Arm run(String name) throws Exception;
  }

  List<Arm> run() throws Exception {
    Files.createDirectories(s.out());
    Map<String, Runs> plan = new LinkedHashMap<>();
    plan.put("single worker", name -> local(name, 1));
    plan.put("data-parallel", name -> local(name, s.workers()));
    int h0 = s.spec().innerSteps();
    PayloadFormat fp16 = PayloadFormat.FP16;
    PayloadFormat int8 = blocks(TensorEncoding.INT8);
    PayloadFormat int4 = blocks(TensorEncoding.INT4);
    if (!s.quick()) {
      plan.put("DiLoCo FP32", name -> diloco(name, PayloadFormat.FP32, false, h0, false));
    }
    plan.put("DiLoCo FP16", name -> diloco(name, fp16, false, h0, false));
    for (Overlap mode : s.overlapArms()) {
      plan.put("DiLoCo FP16 overlapped (" + mode.name().toLowerCase(Locale.ROOT) + ")",
          name -> diloco(name, fp16, false, h0, false, mode));
    }
    if (!s.quick()) {
      plan.put("DiLoCo INT8 + error feedback", name -> diloco(name, int8, true, h0, false));
    }
    plan.put("DiLoCo INT4 + error feedback", name -> diloco(name, int4, true, h0, false));
    if (!s.quick()) {
      // What the feedback buys: the same codes, the residual dropped each round.
      plan.put("DiLoCo INT4", name -> diloco(name, int4, false, h0, false));
    }
    for (int h : s.sweepH()) {
      if (h != s.spec().innerSteps()) {
        plan.put("DiLoCo FP16 H=" + h, name -> diloco(name, fp16, false, h, false));
      }
    }
    if (s.nonIid()) {
      plan.put("DiLoCo FP16 non-iid", name -> diloco(name, fp16, false, h0, true));
    }
    List<String> unknown = s.only().stream().filter(a -> !plan.containsKey(a)).toList();
    if (!unknown.isEmpty()) {
      throw new IllegalArgumentException("--arms names no arm of this benchmark: " + unknown
          + "; its arms are " + plan.keySet());
    }
    List<Arm> arms = new ArrayList<>();
    for (Map.Entry<String, Runs> arm : plan.entrySet()) {
      if (s.only().isEmpty() || s.only().contains(arm.getKey())
          || Settings.REFERENCES.contains(arm.getKey())) {
        arms.add(arm.getValue().run(arm.getKey()));
      }
    }
    return arms;
  }

  private PayloadFormat blocks(TensorEncoding encoding) {
    return new PayloadFormat(new BlockCodec(encoding, s.blockSize()), Compression.NONE, false);
  }

  /**
   * Training in this process with {@code k} times the batch: one worker alone (k = 1), or
   * data-parallel with k workers, whose averaged gradient over k batches of B is the gradient
   * of one batch of k·B.
   */
  private Arm local(String name, int k) {
    console.printf("%n== %s: batch %d x %d, %d steps%n", name, k, s.spec().batch(), s.budget());
    long start = System.nanoTime();
    int batch = k * s.spec().batch();
    ByteTransformer model = new ByteTransformer(s.spec().model(), batch, s.spec().seed());
    ByteTransformer evalModel = s.spec().newModel();
    AdamW adamw = new AdamW(s.spec().inner(), model.layout());
    float[] params = initial.clone();
    float[] grad = new float[params.length];
    byte[] train = corpus.shard(0, 1);
    SplittableRandom random = new SplittableRandom(s.spec().seed() ^ name.hashCode());
    List<Integer> steps = new ArrayList<>(List.of(0));
    evalModel.setParameters(params);
    List<Double> losses = new ArrayList<>(List.of((double) eval.loss(evalModel)));
    model.setParameters(params);
    int h = s.spec().innerSteps();
    for (int step = 1; step <= s.budget(); step++) {
      model.lossAndGradient(ByteCorpus.windows(train, batch, s.spec().model().contextLength(),
          random), grad); // [k·B, T + 1] windows
      adamw.step(params, grad);
      model.setParameters(params);
      if (step % h == 0) {
        evalModel.setParameters(params);
        steps.add(step);
        losses.add((double) eval.loss(evalModel));
        console.printf("  step %d/%d  eval loss %.3f%n", step, s.budget(),
            losses.get(losses.size() - 1));
      }
    }
    // A data-parallel worker sends its FP32 gradient each step and receives the mean.
    long perStep = k == 1 ? 0 : 4L * params.length;
    return new Arm(name, k, 1, PayloadFormat.FP32, false, steps, losses, perStep * s.budget(),
        perStep * s.budget(), (System.nanoTime() - start) / 1e9);
  }

  private Arm diloco(String name, PayloadFormat format, boolean feedback, int h, boolean nonIid)
      throws Exception {
    return diloco(name, format, feedback, h, nonIid, Overlap.NONE);
  }

  /** DiLoCo through the whole pipeline, as {@code diloco run} runs it. */
  private Arm diloco(String name, PayloadFormat format, boolean feedback, int h, boolean nonIid,
      Overlap overlap) throws Exception {
    int rounds = s.budget() / h;
    console.printf("%n== %s: %d workers x %d rounds x H = %d%s%n", name, s.workers(), rounds, h,
        nonIid ? ", non-iid shards" : "");
    RunSpec base = s.spec();
    String id = name.toLowerCase().replaceAll("[^a-z0-9]+", "-").replaceAll("^-|-$", "");
    RunSpec spec = new RunSpec(id, base.model(), base.batch(), h, base.inner(), base.outer(),
        format, feedback, base.seed(), base.chunkElements(), overlap);
    long start = System.nanoTime();
    LocalRun run = new LocalRun(new LocalRun.Plan(spec, s.workers(), rounds, s.data(), nonIid,
        s.out().resolve(id), null, 2, s.init(), List.of(WorkerCommand.class.getName())), console,
        new SimpleMeterRegistry());
    Map<String, Object> configuration = new LinkedHashMap<>();
    configuration.put("arm", name);
    RunSummary summary = run.run(configuration);
    List<Integer> steps = new ArrayList<>();
    List<Double> losses = new ArrayList<>();
    long up = 0;
    long down = 0;
    for (RunSummary.Round r : summary.rounds()) {
      steps.add(r.round() * h);
      losses.add(r.evalLoss());
      up += r.bytesSent();
      // As the workers measured it: a row reports the reading of the round before its commit.
      down += Math.max(0, r.bytesReceived());
    }
    return new Arm(name, s.workers(), h, format, feedback, steps, losses, up / s.workers(),
        down / s.workers(),
        (System.nanoTime() - start) / 1e9);
  }

  /** Writes convergence.md, convergence.csv and convergence.png; returns the Markdown. */
  String write(List<Arm> arms, String command) throws IOException {
    Arm dp = arms.stream().filter(a -> a.name().equals("data-parallel")).findFirst()
        .orElseThrow();
    StringBuilder md = new StringBuilder();
    md.append(String.format("Corpus %s (%,d training bytes), model %s (%,d parameters), batch %d "
        + "x %d bytes, %d inner steps per worker, seed %d, eval on %d x %d held-out windows.%n%n",
        corpus.source(), corpus.trainBytes(), s.model(), initial.length,
        s.spec().batch(), s.spec().model().contextLength(), s.budget(), s.spec().seed(),
        LocalRun.EVAL_BATCHES, s.spec().batch()));
    Arm fp16 = arms.stream().filter(a -> a.name().equals("DiLoCo FP16")).findFirst()
        .orElseThrow();
    md.append("| arm | workers | H | pseudo-gradients | final eval loss | vs FP16 | perplexity "
        + "| bytes sent per worker | bytes received per worker | sent vs FP16 "
        + "| communication vs data-parallel | wall s |\n"
        + "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    StringBuilder csv = new StringBuilder("arm,workers,h,encoding,final_eval_loss,perplexity,"
        + "bytes_sent_per_worker,bytes_received_per_worker,communication_reduction_vs_dp,"
        + "wall_seconds,error_feedback,loss_vs_fp16,sent_vs_fp16\n");
    for (Arm a : arms) {
      boolean communicates = a.bytesPerWorker() > 0;
      double reduction = communicates ? (double) dp.bytesPerWorker() / a.bytesPerWorker() : 0;
      boolean diloco = a.name().startsWith("DiLoCo");
      String h = diloco ? Integer.toString(a.h()) : "-";
      String codec = !diloco ? "-" : a.format().codec() instanceof BlockCodec b
          ? b.encoding() + " (" + b.blockSize() + ")" + (a.feedback() ? " + EF" : "")
          : a.format().encoding().toString();
      double lossVsFp16 = a.finalLoss() / fp16.finalLoss() - 1;
      double sentVsFp16 = (double) a.bytesUpPerWorker() / fp16.bytesUpPerWorker();
      md.append(String.format("| %s | %d | %s | %s | %.4f | %+.2f%% | %.3f | %,d | %,d | %s | %s "
          + "| %.0f |%n", a.name(), a.workers(), h, codec, a.finalLoss(), 100 * lossVsFp16,
          Math.exp(a.finalLoss()), a.bytesUpPerWorker(), a.bytesDownPerWorker(),
          diloco ? String.format("%.3fx", sentVsFp16) : "-",
          a == dp ? "1x (reference)" : communicates ? String.format("%.0fx less", reduction)
              : "none", a.seconds()));
      csv.append(String.format("%s,%d,%s,%s,%.6f,%.6f,%d,%d,%.3f,%.1f,%b,%.6f,%.4f%n", a.name(),
          a.workers(), h, diloco ? a.format().encoding() : "", a.finalLoss(),
          Math.exp(a.finalLoss()), a.bytesUpPerWorker(), a.bytesDownPerWorker(), reduction,
          a.seconds(), a.feedback(), lossVsFp16, diloco ? sentVsFp16 : 0));
    }
    md.append(String.format("%nData-parallel bytes are counted, not sent: each step a worker "
        + "sends its FP32 gradient (4 bytes a parameter) and receives the mean. DiLoCo's are "
        + "what the workers measured: the pseudo-gradient records they published, and the "
        + "records they read to get each round's weights (round 0's FP32 weights in full, then "
        + "each round's exact sums, from which a worker steps itself).%n%nCommand: `%s`%n",
        command));
    Files.writeString(s.out().resolve("convergence.md"), md);
    Files.writeString(s.out().resolve("convergence.csv"), csv);
    StringBuilder curves = new StringBuilder("arm,inner_steps,eval_loss\n");
    for (Arm a : arms) {
      for (int i = 0; i < a.steps().size(); i++) {
        curves.append(String.format("%s,%d,%.6f%n", a.name(), a.steps().get(i),
            a.evalLoss().get(i)));
      }
    }
    Files.writeString(s.out().resolve("convergence-curves.csv"), curves);
    plot(arms, s.out().resolve("convergence.png"));
    return md.toString();
  }

  /**
   * Eval loss against inner steps, from the first eval after step 0 (where every arm has the
   * same loss, and whose drop would flatten the differences that matter).
   */
  private static void plot(List<Arm> arms, Path file) throws IOException {
    Map<String, List<double[]>> series = new LinkedHashMap<>();
    for (Arm a : arms) {
      List<double[]> points = new ArrayList<>();
      for (int i = 1; i < a.steps().size(); i++) {
        points.add(new double[] {a.steps().get(i), a.evalLoss().get(i)});
      }
      series.put(a.name(), points);
    }
    // FP16 lies on FP32 when it is lossless: dashed, so both show.
    Charts.lines(file, "Eval loss against inner steps per worker (step 0: "
        + String.format("%.3f", arms.get(0).evalLoss().get(0)) + " for every arm)",
        "inner steps per worker", "eval loss (nats per byte)", series,
        name -> name.contains("FP16"));
  }
}
