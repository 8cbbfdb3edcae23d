package dev.diloco.worker;

import dev.diloco.core.layout.ParameterLayout;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

/**
 * Text from a model's weights, a token at a time, drawn from the softmax of its logits at a
 * temperature: the same tokens for the same weights and seed.
 */
public interface Sampler {

  /** The sampler of a model: its family's forward pass with a cache of past keys and values. */
  static Sampler of(ModelConfig config, ParameterLayout layout, float[] weights) {
    return config.family() == ModelConfig.Family.BYTE_TRANSFORMER
        ? new ByteSampler(config, layout, weights) : new HfSampler(config, layout, weights);
  }

  /**
   * {@code length} tokens sampled at {@code temperature} after the tokens of {@code prompt} (at
   * least one; of a longer prompt than the window, its last part).
   */
  int[] generate(int[] prompt, int length, double temperature, long seed);

  /** {@code length} tokens after token {@code first}. */
  default int[] generate(int first, int length, double temperature, long seed) {
    return generate(new int[] {first}, length, temperature, seed);
  }

  /** {@code length} bytes after a newline (nanoGPT's {@code generate}), for a model of bytes. */
  default String sample(int length, double temperature, long seed) {
    return sample("\n", length, temperature, seed);
  }

  /**
   * {@code length} bytes after the bytes of {@code prompt}, for a model that reads bytes (a
   * token past a byte's range, which a larger vocabulary could give, is left out).
   */
  default String sample(String prompt, int length, double temperature, long seed) {
    byte[] bytes = prompt.getBytes(StandardCharsets.UTF_8);
    int[] ids = new int[bytes.length];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = bytes[i] & 0xff;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int token : generate(ids, length, temperature, seed)) {
      if (token < 256) {
        out.write(token);
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  /** Refuses what cannot be sampled, by value: no prompt, a token outside the vocabulary. */
  static void check(int[] prompt, int length, double temperature, int vocab) {
    if (length < 0 || !(temperature > 0) || prompt.length == 0) {
      throw new IllegalArgumentException("sampling takes a prompt of at least one token, a "
          + "length >= 0 and a temperature > 0; got " + prompt.length + " tokens, length "
          + length + ", temperature " + temperature);
    }
    for (int token : prompt) {
      if (token < 0 || token >= vocab) {
        throw new IllegalArgumentException("token " + token + " of the prompt is not in the "
            + "model's vocabulary of " + vocab);
      }
    }
  }

  /** A token drawn from softmax(logits / temperature); {@code p} is scratch of the same size. */
  static int draw(float[] logits, int from, int vocab, double temperature,
      SplittableRandom random, double[] p) {
    double max = Double.NEGATIVE_INFINITY;
    for (int k = 0; k < vocab; k++) {
      max = Math.max(max, logits[from + k] / temperature);
    }
    double total = 0;
    for (int k = 0; k < vocab; k++) {
      p[k] = Math.exp(logits[from + k] / temperature - max);
      total += p[k];
    }
    double u = random.nextDouble() * total;
    for (int k = 0; k < vocab; k++) {
      u -= p[k];
      if (u <= 0) {
        return k;
      }
    }
    return vocab - 1;
  }
}
