package dev.diloco.worker.model;

import dev.diloco.core.layout.ParameterLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A family's parameters declared in layout order, each initialised from the seed's stream as it
 * is declared: a family's initial weights are a function of its config and the seed alone,
 * whichever implementation ({@link Graph}'s SameDiff or {@link Llama}'s own) then computes with
 * them.
 */
final class Parameters {
  private final SplittableRandom random;
  private final ParameterLayout.Builder shapes = ParameterLayout.builder();
  private final List<String> names = new ArrayList<>();
  private final List<float[]> values = new ArrayList<>();

  Parameters(long seed) {
    this.random = new SplittableRandom(seed);
  }

  /** N(0, std²) values of {@code shape}, drawn now. */
  float[] normal(String name, double std, int... shape) {
    float[] v = new float[Math.toIntExact(Arrays.stream(shape).asLongStream()
        .reduce(1, Math::multiplyExact))];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (gaussian(random) * std);
    }
    return add(name, v, shape);
  }

  float[] ones(String name, int size) {
    float[] v = new float[size];
    Arrays.fill(v, 1f);
    return add(name, v, size);
  }

  float[] zeros(String name, int size) {
    return add(name, new float[size], size);
  }

  private float[] add(String name, float[] v, int... shape) {
    shapes.add(name, shape);
    names.add(name);
    values.add(v);
    return v;
  }

  /** The names declared so far, in layout order. */
  List<String> names() {
    return List.copyOf(names);
  }

  /** The initial values of {@code name}. */
  float[] values(String name) {
    return values.get(names.indexOf(name));
  }

  ParameterLayout layout() {
    return shapes.build();
  }

  /** Every value in layout order: the flat vector. */
  float[] flat() {
    float[] flat = new float[values.stream().mapToInt(v -> v.length).sum()];
    int at = 0;
    for (float[] v : values) {
      System.arraycopy(v, 0, flat, at, v.length);
      at += v.length;
    }
    return flat;
  }

  /** Box-Muller from a SplittableRandom: the same bits on every machine and JVM. */
  private static double gaussian(SplittableRandom random) {
    double u1 = random.nextDouble();
    double u2 = random.nextDouble();
    return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  }
}
