package dev.diloco.bench;

import dev.diloco.core.codec.BlockCodec;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.layout.Safetensors;
import dev.diloco.launcher.command.WorkerCommand;
import dev.diloco.launcher.local.LocalRun;
import dev.diloco.launcher.local.RunSummary;
import dev.diloco.launcher.options.ModelOptions;
import dev.diloco.launcher.options.RunSpecOptions;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.Overlap;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.EvalSet;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.TrainingData;
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

/**
 * DiLoCo against its baselines on one corpus, with one model, seed and budget of inner steps
 * per worker (Douillard et al. 2023, Table 2 and Figure 2, at small scale), every arm at its
 * best learning rate from a sweep: one worker alone and data-parallel training with k times the
 * batch (in this process: quality references, their communication counted, not sent), swept
 * over the inner learning rate; DiLoCo swept over the outer learning rate in process
 * ({@link InProcessArms}: the pipeline's arithmetic), its best point then run through the real
 * pipeline (embedded broker, reducer, outer optimizer, one process per worker) with FP16
 * pseudo-gradients and, when asked, FP32, INT8, INT4 and overlapped rounds; in process, other
 * H and other k. The sweep chooses on validation windows; every final loss is reported on
 * other held-out windows with its standard error. Writes a Markdown table, CSVs and a plot.
 */
final class ConvergenceBench {

  /**
   * The sweeps' grids by default, a factor of 2 apart: after the warm start the single worker
   * is best at half its warm-start rate and data-parallel (4 times the batch) at twice that,
   * each inside its grid; four outer rates around DiLoCo's 0.7, as many as two processes train
   * in the time of three.
   */
  static final String SINGLE_LR = "7.5e-4,1.5e-3,3e-3";
  static final String DATA_PARALLEL_LR = "1.5e-3,3e-3,6e-3";
  static final String OUTER_LR = "0.5,0.7,0.85,1.0";
  /** The name of the in-process DiLoCo arm, whose sweep chooses the pipeline's outer rate. */
  static final String IN_PROCESS = "DiLoCo FP16 (in process)";

  /** What {@link #run} found: the arms of the tables, and every point of the sweep. */
  record Result(List<ConvergenceArm> arms, List<Sweep.Point> sweep) {}

  private final ConvergenceSettings s;
  private final PrintStream console;
  private final TrainingData data;
  private final EvalSet test;
  private final EvalSet validation;
  private final ParameterLayout layout;
  /** Measures every arm's final weights on the test set, one after the other. */
  private final LanguageModel evalModel;
  /** θ(0) of every arm, and where the pipeline's arms read it (null: the seed's weights). */
  private float[] initial;
  private Path init;

  ConvergenceBench(ConvergenceSettings settings, PrintStream console) throws IOException {
    this.s = settings;
    this.console = console;
    RunSpec spec = settings.spec();
    this.data = InProcessArms.data(settings.data(), spec.model().vocab());
    LanguageModel model = spec.newModel();
    this.layout = model.layout();
    int batches = settings.evalWindows() / spec.batch();
    int t = spec.model().contextLength();
    // The test set's first windows are those every round of a run is evaluated on.
    this.test = new EvalSet(data.eval(), batches, spec.batch(), t, spec.seed());
    this.validation = new EvalSet(data.eval(), batches, spec.batch(), t, ~spec.seed());
    this.initial = ModelOptions.initialWeights(model, settings.init());
    this.evalModel = model;
    this.init = settings.init();
  }

  /** The writer of this benchmark's files. */
  ConvergenceReport report() {
    return new ConvergenceReport(s, data, initial.length);
  }

  /** An arm to run through the pipeline, by name. */
  private interface Runs {
    ConvergenceArm run(String name, RunSpec tuned) throws Exception;
  }

  Result run() throws Exception {
    Map<String, Runs> pipeline = pipelineArms();
    List<String> known = new ArrayList<>(ConvergenceSettings.REFERENCES);
    known.addAll(pipeline.keySet());
    List<String> unknown = s.only().stream().filter(a -> !known.contains(a)).toList();
    if (!unknown.isEmpty()) {
      throw new IllegalArgumentException("--arms names no arm of this benchmark: " + unknown
          + "; its arms are " + known);
    }
    Files.createDirectories(s.out());
    RunSpec spec = s.spec();
    int k = s.workers();
    int h = spec.innerSteps();
    double outer0 = spec.outer().getLearningRate();
    if (s.warmStart() > 0) {
      warmStart(spec);
    }
    Sweep sweep = new Sweep(s.out().resolve("sweep"), spec, initial, s.budget(),
        s.data(), s.threads(), validation, console);
    console.printf("%n== sweep: single worker and data-parallel (%d workers' batches) over the "
        + "inner learning rate, %d steps each, %d at a time%n", k, s.budget(), s.threads());
    // The longest first, so that two processes finish the lot together.
    List<SweepPoint.Job> jobs = new ArrayList<>();
    for (double lr : s.grids().dataParallelLr()) {
      jobs.add(new SweepPoint.Job("data-parallel", lr, k, 0, lr, outer0,
          "data-parallel".hashCode()));
    }
    for (double lr : s.grids().singleLr()) {
      jobs.add(new SweepPoint.Job("single worker", lr, 1, 0, lr, outer0,
          "single worker".hashCode()));
    }
    List<Sweep.Point> points = new ArrayList<>(sweep.run(jobs));
    Sweep.Point single = Sweep.best(points, "single worker");
    Sweep.Point dp = Sweep.best(points, "data-parallel");
    // DiLoCo's workers are single workers between rounds: they take the single arm's rate.
    double inner = single.learningRate();
    console.printf("%n== sweep: DiLoCo FP16 in process (%d workers, H = %d, inner lr %s) over "
        + "the outer learning rate%n", k, h, inner);
    jobs.clear();
    for (double lr : s.grids().outerLr()) {
      jobs.add(new SweepPoint.Job(IN_PROCESS, lr, k, h, inner, lr, 0));
    }
    points.addAll(sweep.run(jobs));
    Sweep.Point diloco = Sweep.best(points, IN_PROCESS);
    RunSpec best = spec.withLearningRates(inner, diloco.learningRate());

    List<ConvergenceArm> arms = new ArrayList<>();
    arms.add(local(single, 1));
    arms.add(local(dp, k));
    for (Map.Entry<String, Runs> arm : pipeline.entrySet()) {
      if (ConvergenceSettings.REFERENCES.contains(arm.getKey()) || s.only().contains(arm.getKey())
          || (s.only().isEmpty() && defaultArm(arm.getKey()))) {
        arms.add(arm.getValue().run(arm.getKey(), best));
      }
    }
    arms.add(inProcess(diloco, k, h));
    arms.addAll(ablations(sweep, best, dp.learningRate()));
    return new Result(arms, points);
  }

  /**
   * The shared warm start (as the DiLoCo paper pretrains before it splits): one worker trains
   * from θ(0) for the warm-start steps at the run's inner rate, and every arm starts from there.
   */
  private void warmStart(RunSpec spec) throws Exception {
    double lr = spec.inner().learningRate();
    console.printf("%n== warm start: one worker, %d steps at lr %s; every arm starts from its "
        + "weights%n", s.warmStart(), lr);
    Sweep warm = new Sweep(s.out().resolve("warm-start"), spec, initial, s.warmStart(),
        s.data(), 1, validation, console);
    initial = warm.run(List.of(new SweepPoint.Job("warm start", lr, 1, 0, lr,
        spec.outer().getLearningRate(), "warm start".hashCode()))).get(0).trained().weights();
    init = s.out().resolve("warm-start.safetensors");
    Safetensors.write(init, layout, initial);
  }

  /** Every arm that runs through the pipeline, each at the sweep's learning rates. */
  private Map<String, Runs> pipelineArms() {
    PayloadFormat int8 = blocks(TensorEncoding.INT8);
    PayloadFormat int4 = blocks(TensorEncoding.INT4);
    Map<String, Runs> plan = new LinkedHashMap<>();
    plan.put("DiLoCo FP32", (n, t) -> diloco(n, t, PayloadFormat.FP32, false, false,
        Overlap.NONE));
    plan.put("DiLoCo FP16", (n, t) -> diloco(n, t, PayloadFormat.FP16, false, false,
        Overlap.NONE));
    for (Overlap mode : s.overlapArms()) {
      plan.put("DiLoCo FP16 overlapped (" + mode.name().toLowerCase(Locale.ROOT) + ")",
          (n, t) -> diloco(n, t, PayloadFormat.FP16, false, false, mode));
    }
    plan.put("DiLoCo INT8 + error feedback", (n, t) -> diloco(n, t, int8, true, false,
        Overlap.NONE));
    plan.put("DiLoCo INT4 + error feedback", (n, t) -> diloco(n, t, int4, true, false,
        Overlap.NONE));
    // What the feedback buys: the same codes, the residual dropped each round.
    plan.put("DiLoCo INT4", (n, t) -> diloco(n, t, int4, false, false, Overlap.NONE));
    if (s.nonIid()) {
      plan.put("DiLoCo FP16 non-iid", (n, t) -> diloco(n, t, PayloadFormat.FP16, false, true,
          Overlap.NONE));
    }
    return plan;
  }

  /** Arms run without --arms: the references, and what the options ask for. */
  private boolean defaultArm(String name) {
    return name.startsWith("DiLoCo FP16 overlapped") || name.equals("DiLoCo FP16 non-iid");
  }

  /** DiLoCo in process at other H (the same budget) and other k, at the sweep's rates. */
  private List<ConvergenceArm> ablations(Sweep sweep, RunSpec best, double dpLr) throws Exception {
    List<SweepPoint.Job> jobs = new ArrayList<>();
    int h0 = best.innerSteps();
    double inner = best.inner().learningRate();
    double outer = best.outer().getLearningRate();
    for (int h : s.sweepH()) {
      if (h != h0) {
        jobs.add(new SweepPoint.Job("DiLoCo FP16 H=" + h + " (in process)", outer,
            s.workers(), h, inner, outer, 0));
      }
    }
    for (int k : s.sweepK()) {
      if (k != s.workers()) {
        jobs.add(new SweepPoint.Job("data-parallel k=" + k, dpLr, k, 0, dpLr, outer,
            "data-parallel".hashCode()));
        jobs.add(new SweepPoint.Job("DiLoCo FP16 k=" + k + " (in process)", outer, k, h0,
            inner, outer, 0));
      }
    }
    if (jobs.isEmpty()) {
      return List.of();
    }
    console.printf("%n== ablations in process, at the sweep's learning rates%n");
    List<ConvergenceArm> arms = new ArrayList<>();
    List<Sweep.Point> points = sweep.run(jobs);
    for (int i = 0; i < jobs.size(); i++) {
      SweepPoint.Job job = jobs.get(i);
      arms.add(job.h() == 0 ? local(points.get(i), job.workers())
          : inProcess(points.get(i), job.workers(), job.h()));
    }
    return arms;
  }

  private PayloadFormat blocks(TensorEncoding encoding) {
    return new PayloadFormat(new BlockCodec(encoding, s.blockSize()), Compression.NONE, false);
  }

  private EvalSet.Measured measure(float[] weights) {
    evalModel.setParameters(weights);
    return test.measure(evalModel);
  }

  private ConvergenceArm local(Sweep.Point p, int k) {
    return ConvergenceArm.local(p, k, measure(p.trained().weights()), initial.length, s.budget());
  }

  private ConvergenceArm inProcess(Sweep.Point p, int k, int h) {
    return ConvergenceArm.inProcess(p, k, h, measure(p.trained().weights()));
  }

  /** DiLoCo through the whole pipeline, as {@code diloco run} runs it. */
  private ConvergenceArm diloco(String name, RunSpec tuned, PayloadFormat format,
      boolean feedback, boolean nonIid, Overlap overlap) throws Exception {
    int h = tuned.innerSteps();
    int rounds = s.budget() / h;
    console.printf("%n== %s: %d workers x %d rounds x H = %d, outer lr %s%s%n", name,
        s.workers(), rounds, h, tuned.outer().getLearningRate(),
        nonIid ? ", non-iid shards" : "");
    String id = name.toLowerCase().replaceAll("[^a-z0-9]+", "-").replaceAll("^-|-$", "");
    RunSpec spec = new RunSpec(id, tuned.model(), tuned.batch(), h, tuned.inner(),
        tuned.outer(), format, feedback, tuned.seed(), tuned.chunkElements(), overlap);
    long start = System.nanoTime();
    Path dir = s.out().resolve(id);
    LocalRun run = new LocalRun(new LocalRun.Plan(spec, s.workers(), rounds, s.data(), nonIid,
        dir, null, 2, init, List.of(WorkerCommand.class.getName())), console,
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
    float[] weights = Safetensors.read(dir.resolve("final-weights.safetensors"), layout);
    return new ConvergenceArm(name, s.workers(), h, format, feedback,
        tuned.outer().getLearningRate(), steps, losses, measure(weights), weights,
        up / s.workers(), down / s.workers(), (System.nanoTime() - start) / 1e9);
  }
}
