package dev.diloco.worker;

import dev.diloco.core.codec.WireRoundTrip;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.codec.ErrorFeedback;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.math.PseudoGradient;
import dev.diloco.core.round.RoundStep;
import dev.diloco.tokens.Tokens;
import java.util.Arrays;
import java.util.List;

/**
 * DiLoCo (Douillard et al. 2023, "DiLoCo: Distributed Low-Communication Training of Language
 * Models", Algorithm 1) in one process, with no Kafka: the reference the pipeline is held to.
 * Each round, every worker in turn starts from the global weights θ(r), takes H inner AdamW
 * steps on its shard ({@link InnerSteps}) and computes its pseudo-gradient Δ = θ(r) − θ_local
 * (plus, with error feedback, what the codec left out of its last one); the Δs, as the run's
 * codec delivers them chunk by chunk ({@link WireRoundTrip}), are summed and the outer step
 * ({@link RoundStep}) turns their mean into θ(r + 1).
 *
 * <p>The sum is in double, in worker order: exact for every codec of the project at the
 * worker counts a test or a benchmark uses (FP16 and INT8/INT4 values are multiples of a power
 * of two in a bounded range; FP32 sums are added in worker-id order, as the reducer does), so
 * a run of the pipeline with the same workers, shards and seed ends on the same bits, where
 * ND4J computes with one thread in both (more threads may order a reduction differently).
 * Synchronous rounds only: with overlap the worker's own estimate enters its inner steps.
 */
public final class DiLoCo {

  /** One worker of the reference: its id (which seeds its windows) and its part of the data. */
  public record Member(String id, Tokens shard) {}

  private final LanguageModel model;
  private final RoundStep outer;
  private final WireRoundTrip wire;
  private final List<Member> members;
  private final InnerSteps[] inner;
  private final Carried[] carried;
  private final float[] global; // θ(r)
  private final float[] momentum;
  private final float[] local;
  private final float[] grad;
  private final float[] delta;
  private final double[] sum;
  private int round;

  /** The run {@code spec} with {@code members}, from {@code initial} weights at round 0. */
  public DiLoCo(RunSpec spec, List<Member> members, float[] initial) {
    this.model = spec.newModel();
    if (initial.length != model.layout().totalElements()) {
      throw new IllegalArgumentException("initial weights of " + initial.length + " elements "
          + "for a model of " + model.layout().totalElements());
    }
    if (members.isEmpty()) {
      throw new IllegalArgumentException("DiLoCo needs at least one worker");
    }
    ChunkPlan plan = model.layout().chunks(spec.chunkElements());
    ElementCodec codec = spec.format().codec();
    this.outer = RoundStep.of(spec.outer(), spec.outer().getLearningRate());
    this.wire = new WireRoundTrip(codec, plan);
    this.members = List.copyOf(members);
    this.inner = new InnerSteps[members.size()];
    this.carried = new Carried[members.size()];
    for (int w = 0; w < members.size(); w++) {
      Member m = members.get(w);
      // Each worker keeps its own AdamW moments and residual; the model is only a function.
      AdamW adamw = new AdamW(spec.inner(), model.layout());
      inner[w] = new InnerSteps(model, adamw, m.shard(), spec.seed(), m.id(), spec.innerSteps());
      carried[w] = new Carried(adamw, spec.errorFeedback() ? new ErrorFeedback(codec, plan)
          : null);
    }
    int n = initial.length;
    this.global = initial.clone();
    this.momentum = new float[n];
    this.local = new float[n];
    this.grad = new float[n];
    this.delta = new float[n];
    this.sum = new double[n];
  }

  /**
   * Trains round r: every worker's inner steps, then the outer step to θ(r + 1) from the mean
   * of the pseudo-gradients that came. A worker whose steps went non-finite is left out of the
   * round, its moments and residual reset, as the pipeline's worker does; a round nobody
   * contributed to keeps θ and the momentum, as the optimizer republishes it.
   */
  public void step() {
    Arrays.fill(sum, 0);
    int contributors = 0;
    for (int w = 0; w < members.size(); w++) {
      System.arraycopy(global, 0, local, 0, global.length);
      if (inner[w].run(round, local, grad) instanceof InnerSteps.NonFinite) {
        carried[w].reset();
        continue;
      }
      contributors++;
      PseudoGradient.compute(global, local, delta); // [n]
      carried[w].compensate(delta);
      wire.decode(delta, delta); // what the reducer receives
      for (int i = 0; i < delta.length; i++) {
        sum[i] += delta[i];
      }
    }
    if (contributors > 0) {
      outer.apply(new ChunkRange(0, 0, global.length), sum, contributors, global, momentum);
    }
    round++;
  }

  /** θ(r) after the rounds stepped so far, the global weights (a copy). */
  public float[] weights() {
    return global.clone();
  }
}
