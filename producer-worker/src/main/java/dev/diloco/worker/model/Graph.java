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
 * What a family's graph is built with: the SameDiff graph with its parameters as variables
 * ({@link Architecture#declare}: the same initial bits as {@link Transformer}'s), the causal
 * mask, heads, attention and norms.
 */
final class Graph {
  final SameDiff sd = SameDiff.create();
  final ModelConfig config;
  final int batch;
  final ParameterLayout layout;
  /** The parameters the backward pass is asked for: all but the table and the head. */
  final List<String> gradientsOf = new ArrayList<>();

  /**
   * A graph of {@code arch}'s parameters, declared by it from the seed's stream, each a
   * variable; the table and the head are read outside the graph.
   */
  Graph(ModelConfig config, int batch, long seed, Architecture arch) {
    this.config = config;
    this.batch = batch;
    Parameters params = new Parameters(seed);
    arch.declare(params);
    this.layout = params.layout();
    for (String name : params.names()) {
      sd.var(name, Nd4j.create(params.values(name), layout.tensor(name).shape().stream()
          .mapToLong(Integer::longValue).toArray(), 'c'));
      if (!name.equals(arch.table()) && !name.equals(arch.head())) {
        gradientsOf.add(name);
      }
    }
  }

  /** The variable of a parameter. */
  SDVariable var(String name) {
    return sd.getVariable(name);
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
