package dev.diloco.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link Softmax} against softmaxes computed here in double, row by row: causal rows whose
 * blocks start mid-sequence (T = 100 does not divide a block), a head's rows of a vocabulary
 * longer than a block and of one that is not a power of two, the causal backward pass, and a
 * NaN that must show in its row and no other.
 */
class SoftmaxTest {

  @Test
  void causalRowsMatchTheirSoftmaxOverTheirPastWhereverABlockStarts() {
    int g = 3;
    int t = 100; // 163 rows a block: blocks start at positions 0, 63, 26, ...
    float[] scores = random(g * 2 * t * t, 8f, 1);
    INDArray p = whole(scores, g, 2 * t, t);
    Softmax.causal(p);
    float[] got = p.data().asFloat();
    for (int r = 0; r < g * 2 * t; r++) {
      int past = r % t + 1;
      double[] want = softmax(scores, r * t, past);
      for (int j = 0; j < t; j++) {
        if (j < past) {
          assertThat((double) got[r * t + j]).as("row %d, entry %d", r, j)
              .isCloseTo(want[j], Offset.offset(1e-5 * Math.max(want[j], 1e-3)));
        } else {
          assertThat(got[r * t + j]).as("row %d, masked entry %d", r, j).isZero();
        }
      }
    }
  }

  @Test
  void headRowsGiveTheirSoftmaxTimesTheScaleAndTheirLogSumExp() {
    for (int v : new int[] {300, Softmax.BLOCK + 7}) {
      int rows = Softmax.rowsPerBlock(v);
      float[] logits = random(rows * v, 20f, v);
      float[] a = logits.clone();
      double[] lse = new double[rows];
      Softmax.rows(a, rows, v, false, 0, 0.25f, lse);
      for (int r = 0; r < rows; r++) {
        double[] want = softmax(logits, r * v, v);
        double max = Double.NEGATIVE_INFINITY;
        double z = 0;
        for (int j = 0; j < v; j++) {
          max = Math.max(max, logits[r * v + j]);
        }
        for (int j = 0; j < v; j++) {
          z += Math.exp(logits[r * v + j] - max);
        }
        assertThat(lse[r]).as("V %d, row %d", v, r).isCloseTo(max + Math.log(z),
            Offset.offset(1e-5));
        for (int j = 0; j < v; j += 37) {
          assertThat((double) a[r * v + j]).isCloseTo(0.25 * want[j],
              Offset.offset(1e-5 * Math.max(0.25 * want[j], 1e-6)));
        }
      }
    }
  }

  @Test
  void theCausalBackwardPassIsPTimesTheGradientLessItsMeanUnderP() {
    int t = 100;
    INDArray p = whole(random(2 * t * t, 4f, 2), 1, 2 * t, t);
    Softmax.causal(p);
    float[] probabilities = p.data().asFloat();
    float[] upstream = random(2 * t * t, 1f, 3);
    INDArray dp = whole(upstream, 1, 2 * t, t);
    Softmax.causalBackward(p, dp);
    float[] got = dp.data().asFloat();
    for (int r = 0; r < 2 * t; r++) {
      int past = r % t + 1;
      double dot = 0;
      for (int j = 0; j < past; j++) {
        dot += (double) probabilities[r * t + j] * upstream[r * t + j];
      }
      for (int j = 0; j < t; j++) {
        double want = j < past ? probabilities[r * t + j] * (upstream[r * t + j] - dot) : 0;
        assertThat((double) got[r * t + j]).as("row %d, entry %d", r, j)
            .isCloseTo(want, Offset.offset(1e-6));
      }
    }
  }

  @Test
  void aNaNShowsInItsOwnRowAndNoOther() {
    int t = 8;
    float[] scores = random(2 * t * t, 4f, 4);
    scores[3 * t + 1] = Float.NaN; // row 3 (position 3): within its past
    INDArray p = whole(scores, 1, 2 * t, t);
    Softmax.causal(p);
    float[] got = p.data().asFloat();
    for (int j = 0; j <= 3; j++) {
      assertThat(got[3 * t + j]).as("row 3, entry %d", j).isNaN();
    }
    for (int r = 0; r < 2 * t; r++) {
      if (r != 3) {
        for (int j = 0; j < t; j++) {
          assertThat(got[r * t + j]).as("row %d, entry %d", r, j).isNotNaN();
        }
      }
    }
  }

  /** A whole array (not a view, as reshape gives) of {@code values}. */
  private static INDArray whole(float[] values, long... shape) {
    return Nd4j.create(values, shape, 'c');
  }

  private static float[] random(int n, float scale, long seed) {
    Random random = new Random(seed);
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) (random.nextGaussian() * scale);
    }
    return a;
  }

  /** The softmax of a[from .. from + n) in double. */
  private static double[] softmax(float[] a, int from, int n) {
    double max = Double.NEGATIVE_INFINITY;
    for (int j = 0; j < n; j++) {
      max = Math.max(max, a[from + j]);
    }
    double[] e = new double[n];
    double z = 0;
    for (int j = 0; j < n; j++) {
      e[j] = Math.exp(a[from + j] - max);
      z += e[j];
    }
    for (int j = 0; j < n; j++) {
      e[j] /= z;
    }
    return e;
  }
}
