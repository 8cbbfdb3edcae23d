package dev.diloco.bench;

import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.PseudoGradient;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.worker.AdamW;
import dev.diloco.worker.ByteCorpus;
import dev.diloco.worker.ByteTransformer;
import dev.diloco.worker.EvalSet;
import dev.diloco.worker.RunSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The arms a learning-rate sweep trains in this process: one worker alone, data-parallel (k
 * times the batch, the mean gradient of k workers' batches), and DiLoCo simulated: k models
 * stepped one after the other on the windows the pipeline's workers draw (their shard, and
 * {@link ByteCorpus#stepRandom} of worker-i, round, step), each pseudo-gradient through the
 * run's codec, the decoded values summed in double (exact for FP16 and BF16 values of a few
 * workers, as the reducer's sum is) and the outer step of {@link OuterStep}. It is the
 * pipeline's arithmetic without its processes, so a sweep can afford many points; the chosen
 * point then runs through the pipeline, and the benchmark prints both results.
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
  record Setup(ByteCorpus corpus, RunSpec spec, float[] initial, int budget, EvalSet curve) {}

  /** An arm's curve (inner steps per worker, eval loss on the curve set) and its last weights. */
  record Trained(List<Integer> steps, List<Double> curve, float[] weights, double seconds) {}

  private InProcessArms() {}

  /** One worker alone ({@code k} = 1) or data-parallel with k times the batch. */
  static Trained local(Setup s, int k, AdamW.Config inner, long salt) {
    long start = System.nanoTime();
    RunSpec spec = s.spec();
    int batch = k * spec.batch();
    ByteTransformer model = new ByteTransformer(spec.model(), batch, spec.seed());
    ByteTransformer evalModel = spec.newModel();
    AdamW adamw = new AdamW(inner, model.layout());
    float[] params = s.initial().clone();
    float[] grad = new float[params.length];
    byte[] train = s.corpus().shard(0, 1);
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
   * DiLoCo with {@code k} workers and H = {@code h} over the budget, its pseudo-gradients
   * through {@code codec} (a float codec: block codecs work chunk by chunk and run in the
   * pipeline only).
   */
  static Trained diloco(Setup s, int k, int h, AdamW.Config inner, OuterOptimizerConfig outer,
      ElementCodec codec) {
    if (codec.planeWidth() == 0) {
      throw new IllegalArgumentException("the in-process DiLoCo takes a float codec, not "
          + codec.encoding());
    }
    long start = System.nanoTime();
    RunSpec spec = s.spec();
    ByteTransformer model = spec.newModel();
    ByteTransformer evalModel = spec.newModel();
    int n = s.initial().length;
    float[] global = s.initial().clone(); // θ(r)
    float[] momentum = new float[n];
    float[] local = new float[n];
    float[] grad = new float[n];
    float[] delta = new float[n];
    float[] decoded = new float[n];
    double[] sum = new double[n];
    byte[] encoded = new byte[codec.encodedBytes(n)];
    AdamW[] optimizers = new AdamW[k];
    byte[][] shards = new byte[k][];
    for (int w = 0; w < k; w++) {
      optimizers[w] = new AdamW(inner, model.layout()); // each worker keeps its own moments
      shards[w] = s.corpus().shard(w, k);
    }
    OuterStep outerStep = OuterStep.of(outer);
    Curve curve = new Curve(s.curve(), evalModel, global);
    int t = spec.model().contextLength();
    for (int round = 0; round < s.budget() / h; round++) {
      java.util.Arrays.fill(sum, 0);
      for (int w = 0; w < k; w++) {
        System.arraycopy(global, 0, local, 0, n);
        model.setParameters(local);
        for (int step = 0; step < h; step++) {
          model.lossAndGradient(ByteCorpus.windows(shards[w], spec.batch(), t,
              ByteCorpus.stepRandom(spec.seed(), "worker-" + w, round, step)), grad);
          optimizers[w].step(local, grad);
          model.setParameters(local);
        }
        PseudoGradient.compute(global, local, delta);
        codec.encode(delta, 0, n, encoded, 0);
        codec.decode(encoded, 0, n, decoded, 0);
        for (int i = 0; i < n; i++) {
          sum[i] += decoded[i];
        }
      }
      outerStep.apply((float) outer.getLearningRate(), sum, 0, k, global, momentum, 0, n);
      curve.add((round + 1) * h, global);
    }
    return curve.done(global, start);
  }

  /** Eval loss at step 0 and wherever {@link #add} is called. */
  private static final class Curve {
    private final EvalSet set;
    private final ByteTransformer model;
    private final List<Integer> steps = new ArrayList<>();
    private final List<Double> losses = new ArrayList<>();

    Curve(EvalSet set, ByteTransformer model, float[] initial) {
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
