package dev.diloco.worker.model;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.worker.ModelConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What a family's graph is built with: the SameDiff graph, and its parameters declared in
 * layout order, each initialised from the seed's stream as it is declared (so a family's
 * initial weights are a function of its config and the seed alone).
 */
final class Graph {
  final SameDiff sd = SameDiff.create();
  final ModelConfig config;
  final int batch;
  private final Parameters params;
  /** The parameters the backward pass is asked for (not the table, unless the graph reads it). */
  final List<String> gradientsOf = new ArrayList<>();
  private String table;

  Graph(ModelConfig config, int batch, long seed) {
    this.config = config;
    this.batch = batch;
    this.params = new Parameters(seed);
  }

  /** The parameters declared so far, for a family that declares them itself ({@link Llama}). */
  Parameters parameters() {
    return params;
  }

  /**
   * Variables of the parameters declared in {@link #parameters()} without the graph, in layout
   * order; the table and the head (null when tied) are read outside the graph.
   */
  void adopt(String tableName, String headName) {
    ParameterLayout layout = params.layout();
    for (String name : params.names()) {
      sd.var(name, Nd4j.create(params.values(name), layout.tensor(name).shape()
          .stream().mapToLong(Integer::longValue).toArray(), 'c'));
      if (!name.equals(tableName) && !name.equals(headName)) {
        gradientsOf.add(name);
      }
    }
    table = tableName;
  }

  /** The variable of a parameter. */
  SDVariable var(String name) {
    return sd.getVariable(name);
  }

  /** What a family's graph ends in: the final hidden states, and the head that reads them. */
  record Output(SDVariable hidden, String head, boolean headIsVByC) {}

  /**
   * The embedding table [V, C], N(0, std²): its rows are gathered outside the graph, and read
   * there again by a tied head, so it has no gradient in the graph.
   */
  void table(String name, double std) {
    outside(name, std, config.vocab(), config.dModel());
    table = name;
  }

  /** The output head, read outside the graph ({@link SoftmaxHead}): the output of a family. */
  Output head(SDVariable hidden, String name, double std, boolean vByC) {
    if (config.tiedHead()) {
      return new Output(hidden, table, true);
    }
    outside(name, std, vByC ? config.vocab() : config.dModel(),
        vByC ? config.dModel() : config.vocab());
    return new Output(hidden, name, vByC);
  }

  private void outside(String name, double std, int... shape) {
    normal(name, std, shape);
    gradientsOf.remove(name);
  }

  String tableName() {
    return table;
  }

  ParameterLayout layout() {
    return params.layout();
  }

  SDVariable normal(String name, double std, int... shape) {
    return register(name, params.normal(name, std, shape), shape);
  }

  SDVariable ones(String name, int size) {
    return register(name, params.ones(name, size), size);
  }

  SDVariable zeros(String name, int size) {
    return register(name, params.zeros(name, size), size);
  }

  private SDVariable register(String name, float[] values, int... shape) {
    long[] dims = Arrays.stream(shape).asLongStream().toArray();
    SDVariable var = sd.var(name, Nd4j.create(values, dims, 'c'));
    gradientsOf.add(name);
    return var;
  }

  /** [T, T]: 0 on and below the diagonal, -1e9 above (future positions), added to the scores. */
  SDVariable causalMask() {
    int t = config.contextLength();
    float[] mask = new float[t * t];
    for (int i = 0; i < t; i++) {
      for (int j = i + 1; j < t; j++) {
        mask[i * t + j] = -1e9f;
      }
    }
    return sd.constant("causal_mask", Nd4j.create(mask, new long[] {t, t}, 'c'));
  }

  /** [B*T, n·hd] to [B*n, T, hd]: one sequence per (batch, head). */
  SDVariable heads(SDVariable x, int n) {
    int t = config.contextLength();
    int hd = config.headDim();
    return x.reshape(batch, t, n, hd).permute(0, 2, 1, 3).reshape(batch * n, t, hd);
  }

  /**
   * The heads of q, k and v side by side in {@code qkv} [B*T, (n₁+n₂+n₃)·hd], apart: one
   * reshape and one permute for all three, then a slice each, [B*nᵢ, T, hd].
   */
  SDVariable[] splitHeads(SDVariable qkv, int... counts) {
    int t = config.contextLength();
    int hd = config.headDim();
    int all = Arrays.stream(counts).sum();
    SDVariable heads = qkv.reshape(batch, t, all, hd).permute(0, 2, 1, 3); // [B, n, T, hd]
    SDVariable[] parts = new SDVariable[counts.length];
    for (int i = 0, from = 0; i < counts.length; from += counts[i++]) {
      parts[i] = heads.get(SDIndex.all(), SDIndex.interval(from, from + counts[i]),
          SDIndex.all(), SDIndex.all()).reshape(batch * counts[i], t, hd);
    }
    return parts;
  }

  /** [B*H, T, hd] back to [B*T, H·hd]. */
  SDVariable merge(SDVariable y) {
    int t = config.contextLength();
    int h = config.heads();
    return y.reshape(batch, h, t, config.headDim()).permute(0, 2, 1, 3)
        .reshape(batch * t, h * config.headDim());
  }

  /** Causal attention of q, k, v [B*H, T, hd]: softmax(q·kᵀ / √hd + mask)·v, [B*H, T, hd]. */
  SDVariable attention(SDVariable q, SDVariable k, SDVariable v, SDVariable causal) {
    return attention(q, k, v, causal, 1.0 / Math.sqrt(config.headDim()));
  }

  /** Causal attention with the scores scaled by {@code scale}: 1 where q carries it already. */
  SDVariable attention(SDVariable q, SDVariable k, SDVariable v, SDVariable causal,
      double scale) {
    SDVariable scores = sd.mmul(q, k, false, true, false); // [B*H, T, T]
    if (scale != 1.0) {
      scores = scores.mul(scale);
    }
    return sd.mmul(sd.nn.softmax(scores.add(causal), 2), v); // [B*H, T, hd]
  }

  /**
   * Layer norm over the last axis of {@code x} [N, C]: (x − mean) / sqrt(var + ε) · gain + bias.
   * SameDiff's own {@code nn.layerNorm} divides by the bare standard deviation: on a row of
   * nearly equal values its gradient grows as 1/stdev (1.3e7 at a spread of 2.4e-7 about 3), and
   * a row of equal values is 0/0, which long INT4 runs reached as NaN. With ε the gradient is
   * bounded by 1/sqrt(ε) ≈ 316 times the incoming one.
   */
  SDVariable layerNorm(SDVariable x, SDVariable gain, SDVariable bias) {
    SDVariable centred = x.sub(x.mean(true, 1)); // [N, C]
    SDVariable variance = centred.mul(centred).mean(true, 1); // [N, 1]
    return centred.mul(sd.math.rsqrt(variance.add(config.normEps()))).mul(gain).add(bias);
  }

  /** Llama's RMSNorm over the last axis of {@code x} [N, C]: x / sqrt(mean(x²) + ε) · gain. */
  SDVariable rmsNorm(SDVariable x, SDVariable gain) {
    SDVariable meanSquare = x.mul(x).mean(true, 1); // [N, 1]
    return x.mul(sd.math.rsqrt(meanSquare.add(config.normEps()))).mul(gain); // [N, C]
  }
}
