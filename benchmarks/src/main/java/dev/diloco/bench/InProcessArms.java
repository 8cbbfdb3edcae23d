package dev.diloco.bench;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.tokens.Tokens;
import dev.diloco.worker.AdamW;
import dev.diloco.worker.BuiltInCorpus;
import dev.diloco.worker.ByteCorpus;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.DiLoCo;
import dev.diloco.worker.EvalSet;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.TrainingData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The arms a learning-rate sweep trains in this process: one worker alone, data-parallel (k
 * times the batch, the mean gradient of k workers' batches), and DiLoCo as the project's
 * reference runs it ({@link DiLoCo}: the pipeline's arithmetic without its processes), so a
 * sweep can afford many points; the chosen point then runs through the pipeline, and the
 * benchmark prints both results.
 */
final class InProcessArms {

  /**
   * What every arm of a benchmark shares.
   *
   * @param spec model, batch per worker, seed, inner and outer settings
   * @param budget inner steps per worker
   * @param curve the windows each point of a curve is measured on (batch: the spec's), every H
   *     inner steps of the spec
   */
  record Setup(TrainingData data, RunSpec spec, float[] initial, int budget, EvalSet curve) {}

  /** An arm's curve (inner steps per worker, eval loss on the curve set) and its last weights. */
  record Trained(List<Integer> steps, List<Double> curve, float[] weights, double seconds) {}

  private InProcessArms() {}

  /**
   * What the benchmark trains on: the data at {@code path} as {@code diloco run} reads it
   * (text as bytes, or tokens that fit a model over {@code vocab}), or, with no path, the
   * built-in corpus that a run's workers read without data.
   */
  static TrainingData data(Path path, int vocab) {
    return path == null
        ? TrainingData.of(ByteCorpus.of(BuiltInCorpus.generate(1 << 22, 1), 0.1, "built-in"))
        : TrainingData.load(path, 0.1, vocab);
  }

  /** One worker alone ({@code k} = 1) or data-parallel with k times the batch. */
  static Trained local(Setup s, int k, AdamW.Config inner, long salt) {
    long start = System.nanoTime();
    RunSpec spec = s.spec();
    int batch = k * spec.batch();
    LanguageModel model = LanguageModel.of(spec.model(), batch, spec.seed());
    LanguageModel evalModel = spec.newModel();
    AdamW adamw = new AdamW(inner, model.layout());
    float[] params = s.initial().clone();
    float[] grad = new float[params.length];
    Tokens train = s.data().shard(0, 1, false);
    SplittableRandom random = new SplittableRandom(spec.seed() ^ salt);
    Curve curve = new Curve(s.curve(), evalModel, params);
    model.setParameters(params);
    for (int step = 1; step <= s.budget(); step++) {
      model.lossAndGradient(ByteCorpus.windows(train, batch, spec.model().contextLength(),
          random), grad); // [k·B, T + 1] windows
      adamw.step(params, grad);
      model.setParameters(params);
      if (step % spec.innerSteps() == 0 || step == s.budget()) {
        curve.add(step, params);
      }
    }
    return curve.done(params, start);
  }

  /**
   * DiLoCo with {@code k} workers and H = {@code h} over the budget, its pseudo-gradients in
   * FP16: the project's reference ({@link DiLoCo}), with the pipeline's worker ids and shards.
   */
  static Trained diloco(Setup s, int k, int h, AdamW.Config inner, OuterOptimizerConfig outer) {
    long start = System.nanoTime();
    RunSpec base = s.spec();
    RunSpec spec = new RunSpec(base.runId(), base.model(), base.batch(), h, inner, outer,
        PayloadFormat.FP16, false, base.seed(), base.chunkElements());
    List<DiLoCo.Member> members = new ArrayList<>();
    for (int w = 0; w < k; w++) {
      members.add(new DiLoCo.Member("worker-" + w, s.data().shard(w, k, false)));
    }
    DiLoCo diloco = new DiLoCo(spec, members, s.initial());
    Curve curve = new Curve(s.curve(), spec.newModel(), s.initial());
    for (int round = 0; round < s.budget() / h; round++) {
      diloco.step();
      curve.add((round + 1) * h, diloco.weights());
    }
    return curve.done(diloco.weights(), start);
  }

  /** Eval loss at step 0 and wherever {@link #add} is called. */
  private static final class Curve {
    private final EvalSet set;
    private final LanguageModel model;
    private final List<Integer> steps = new ArrayList<>();
    private final List<Double> losses = new ArrayList<>();

    Curve(EvalSet set, LanguageModel model, float[] initial) {
      this.set = set;
      this.model = model;
      add(0, initial);
    }

    void add(int step, float[] weights) {
      model.setParameters(weights);
      steps.add(step);
      losses.add((double) set.loss(model));
    }

    Trained done(float[] weights, long startNanos) {
      return new Trained(steps, losses, weights.clone(), (System.nanoTime() - startNanos) / 1e9);
    }
  }
}
