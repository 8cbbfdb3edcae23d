package dev.diloco.worker;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.math.WarmupCosine;

/**
 * The inner optimizer: AdamW with PyTorch's semantics (Loshchilov and Hutter, decoupled weight
 * decay), global-norm gradient clipping as {@code torch.nn.utils.clip_grad_norm_} does it (the
 * gradient is scaled in place), and a {@link WarmupCosine} schedule of the learning rate. Its
 * state (moments and step count) stays with the worker across rounds, as in DiLoCo. Weight
 * decay applies to matrices, not to gains and biases, as in nanoGPT.
 */
public final class AdamW {

  /**
   * The settings, OpenDiLoCo's by default ({@link #OPENDILOCO}); change one with its
   * {@code with...} method.
   *
   * @param learningRate peak rate
   * @param beta1 first-moment decay
   * @param beta2 second-moment decay
   * @param epsilon added to the root of the second moment
   * @param weightDecay decoupled decay
   * @param clip global gradient-norm bound; 0 for none
   * @param schedule the learning rate by step, as a factor of the peak
   */
  public record Config(double learningRate, double beta1, double beta2, double epsilon,
      double weightDecay, double clip, WarmupCosine schedule) {

    /** OpenDiLoCo's inner rate, for its 150M model. */
    public static final double OPENDILOCO_LEARNING_RATE = 4e-4;
    /**
     * A run's inner rate unless it says otherwise: the CPU presets are far smaller than
     * OpenDiLoCo's 150M model and train best at a higher rate (docs/RESULTS.md, section 1).
     */
    public static final double DEFAULT_LEARNING_RATE = 3e-3;
    public static final double DEFAULT_BETA1 = 0.9;
    public static final double DEFAULT_BETA2 = 0.95;
    public static final double DEFAULT_EPSILON = 1e-8;
    public static final double DEFAULT_WEIGHT_DECAY = 0.1;
    public static final double DEFAULT_CLIP = 1.0;

    /** OpenDiLoCo's inner AdamW (Jaghouar et al. 2024): lr 4e-4, betas 0.9/0.95, decay 0.1. */
    public static final Config OPENDILOCO = new Config(OPENDILOCO_LEARNING_RATE, DEFAULT_BETA1,
        DEFAULT_BETA2, DEFAULT_EPSILON, DEFAULT_WEIGHT_DECAY, DEFAULT_CLIP,
        WarmupCosine.CONSTANT);

    public Config {
      if (!(learningRate > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)
          || !(epsilon > 0) || !(weightDecay >= 0) || !(clip >= 0) || schedule == null) {
        throw new IllegalArgumentException("AdamW settings out of range: learning rate "
            + learningRate + " (> 0), betas " + beta1 + ", " + beta2 + " (in [0, 1)), epsilon "
            + epsilon + " (> 0), weight decay " + weightDecay + " (>= 0), clip " + clip
            + " (>= 0), schedule " + schedule);
      }
    }

    public Config withLearningRate(double lr) {
      return new Config(lr, beta1, beta2, epsilon, weightDecay, clip, schedule);
    }

    public Config withBetas(double b1, double b2) {
      return new Config(learningRate, b1, b2, epsilon, weightDecay, clip, schedule);
    }

    public Config withEpsilon(double eps) {
      return new Config(learningRate, beta1, beta2, eps, weightDecay, clip, schedule);
    }

    public Config withWeightDecay(double decay) {
      return new Config(learningRate, beta1, beta2, epsilon, decay, clip, schedule);
    }

    public Config withClip(double bound) {
      return new Config(learningRate, beta1, beta2, epsilon, weightDecay, bound, schedule);
    }

    public Config withSchedule(WarmupCosine s) {
      return new Config(learningRate, beta1, beta2, epsilon, weightDecay, clip, s);
    }
  }

  /** The moments and the step count: what a restarted worker needs to step on the same. */
  public record State(int steps, float[] firstMoment, float[] secondMoment) {
    public State {
      if (steps < 0 || firstMoment.length != secondMoment.length) {
        throw new IllegalArgumentException("AdamW state of " + steps + " steps with moments of "
            + firstMoment.length + " and " + secondMoment.length + " elements");
      }
    }
  }

  private final Config config;
  private final float[] m;
  private final float[] v;
  /** [from, to) of each run of adjacent elements that decay (matrices) or do not, with 1 or 0. */
  private final int[][] runs;
  private int step;

  public AdamW(Config config, ParameterLayout layout) {
    this.config = config;
    int n = Math.toIntExact(layout.totalElements());
    this.m = new float[n];
    this.v = new float[n];
    boolean[] decays = new boolean[n];
    for (ParameterLayout.Tensor t : layout.tensors()) {
      if (t.shape().size() >= 2) {
        int from = (int) t.offset();
        java.util.Arrays.fill(decays, from, from + (int) t.elementCount(), true);
      }
    }
    java.util.List<int[]> found = new java.util.ArrayList<>();
    for (int from = 0; from < n; ) {
      int to = from;
      while (to < n && decays[to] == decays[from]) {
        to++;
      }
      found.add(new int[] {from, to, decays[from] ? 1 : 0});
      from = to;
    }
    this.runs = found.toArray(new int[0][]);
  }

  /** Steps taken so far. */
  public int steps() {
    return step;
  }

  /** The state now, as copies. */
  public State state() {
    return new State(step, m.clone(), v.clone());
  }

  /** Takes up {@code s}, as saved by {@link #state()} of an optimizer of the same layout. */
  public void restore(State s) {
    if (s.firstMoment().length != m.length) {
      throw new IllegalArgumentException("AdamW state of " + s.firstMoment().length
          + " elements for " + m.length + " parameters");
    }
    System.arraycopy(s.firstMoment(), 0, m, 0, m.length);
    System.arraycopy(s.secondMoment(), 0, v, 0, v.length);
    step = s.steps();
  }

  /**
   * Zeroes the moments and keeps the step count (the schedule's position): the fresh start of
   * a worker whose inner steps went non-finite, and took its moments with them.
   */
  public void resetMoments() {
    java.util.Arrays.fill(m, 0f);
    java.util.Arrays.fill(v, 0f);
  }

  /** The learning rate of step {@code s} (1-based). */
  public double learningRate(int s) {
    return config.learningRate() * config.schedule().factor(s - 1);
  }

  /**
   * One step on {@code params} from {@code grad}, which it clips in place to the norm bound;
   * returns the gradient's norm before clipping.
   */
  public double step(float[] params, float[] grad) {
    double norm = Math.sqrt(sumOfSquares(grad));
    float scale = config.clip() > 0 && norm > config.clip() ? (float) (config.clip() / norm) : 1f;
    step++;
    double lr = learningRate(step);
    float b1 = (float) config.beta1();
    float b2 = (float) config.beta2();
    double c1 = 1 - Math.pow(config.beta1(), step);
    double c2 = 1 - Math.pow(config.beta2(), step);
    float stepSize = (float) (lr / c1);
    float rootC2 = (float) Math.sqrt(c2);
    float eps = (float) config.epsilon();
    float decay = (float) (1 - lr * config.weightDecay());
    // A loop per run of tensors, its decay a constant (x·1 is x): with a flag per element
    // the JIT did not vectorize it, and the step took 4 ns a parameter.
    for (int[] run : runs) {
      float d = run[2] == 1 ? decay : 1f;
      for (int i = run[0]; i < run[1]; i++) {
        float g = grad[i] * scale;
        grad[i] = g;
        float mi = b1 * m[i] + (1 - b1) * g;
        float vi = b2 * v[i] + (1 - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = params[i] * d - stepSize * mi / ((float) Math.sqrt(vi) / rootC2 + eps);
      }
    }
    return norm;
  }

  /**
   * Σ g² in double, in eight running sums added pairwise at the end: one running sum is a chain
   * of dependent additions, a third of the step's time.
   */
  static double sumOfSquares(float[] g) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int i = 0;
    for (; i + 8 <= g.length; i += 8) {
      s0 += (double) g[i] * g[i];
      s1 += (double) g[i + 1] * g[i + 1];
      s2 += (double) g[i + 2] * g[i + 2];
      s3 += (double) g[i + 3] * g[i + 3];
      s4 += (double) g[i + 4] * g[i + 4];
      s5 += (double) g[i + 5] * g[i + 5];
      s6 += (double) g[i + 6] * g[i + 6];
      s7 += (double) g[i + 7] * g[i + 7];
    }
    for (; i < g.length; i++) {
      s0 += (double) g[i] * g[i];
    }
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  }
}
