package dev.diloco.worker.model;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The model's products, by OpenBLAS's cblas_sgemm on the arrays' own memory. ND4J's
 * {@code Nd4j.gemm} runs the same sgemm through its op machinery, which cost about 0.1 ms a call
 * here: half the time of a [512, 64] × [64, 192] product, and a third of a 1,024³ one's rate.
 * Arrays are row-major with rows of adjacent elements (whole arrays, or views of the flat
 * parameter vector), batched ones [G, R, C] whole.
 */
final class Blas {
  private Blas() {}

  /** c = alpha · op(a) · op(b) + beta · c, op transposing where asked; all [rows, columns]. */
  static void gemm(INDArray a, INDArray b, INDArray c, boolean ta, boolean tb, float alpha,
      float beta) {
    int m = (int) (ta ? a.size(1) : a.size(0));
    int k = (int) (ta ? a.size(0) : a.size(1));
    int n = (int) (tb ? b.size(0) : b.size(1));
    if ((tb ? b.size(1) : b.size(0)) != k || c.size(0) != m || c.size(1) != n) {
      throw new IllegalArgumentException("no product of " + shape(a, ta) + " and "
          + shape(b, tb) + " into " + shape(c, false));
    }
    sgemm(ta, tb, m, n, k, alpha, pointer(a, 0), lead(a), pointer(b, 0), lead(b), beta,
        pointer(c, 0), lead(c));
  }

  /** As {@link #gemm}, beta 0, for each of the G matrices of a, b and c [G, rows, columns]. */
  static void batched(INDArray a, INDArray b, INDArray c, boolean ta, boolean tb, float alpha) {
    int groups = (int) a.size(0);
    int m = (int) (ta ? a.size(2) : a.size(1));
    int k = (int) (ta ? a.size(1) : a.size(2));
    int n = (int) (tb ? b.size(1) : b.size(2));
    if (b.size(0) != groups || c.size(0) != groups || (tb ? b.size(2) : b.size(1)) != k
        || c.size(1) != m || c.size(2) != n) {
      throw new IllegalArgumentException("no batched product of " + a.shapeInfoToString()
          + " and " + b.shapeInfoToString() + " into " + c.shapeInfoToString());
    }
    for (int g = 0; g < groups; g++) {
      sgemm(ta, tb, m, n, k, alpha, pointer(a, g), (int) a.size(2), pointer(b, g),
          (int) b.size(2), 0f, pointer(c, g), n);
    }
  }

  private static void sgemm(boolean ta, boolean tb, int m, int n, int k, float alpha,
      FloatPointer a, int lda, FloatPointer b, int ldb, float beta, FloatPointer c, int ldc) {
    openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, op(ta), op(tb), m, n, k, alpha,
        a, lda, b, ldb, beta, c, ldc);
  }

  private static int op(boolean transpose) {
    return transpose ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
  }

  /** Matrix {@code g} of a (the whole of a 2-d one), where its first element is. */
  private static FloatPointer pointer(INDArray a, int g) {
    if (a.ordering() != 'c' || a.stride(a.rank() - 1) != 1
        || a.rank() == 3 && a.isView()) {
      throw new IllegalArgumentException("a row-major array of adjacent elements is needed "
          + "here, got " + a.shapeInfoToString());
    }
    FloatPointer p = (FloatPointer) a.data().addressPointer();
    return g == 0 ? p : new FloatPointer(p).position(g * a.size(1) * a.size(2));
  }

  /**
   * Row to row in memory. ND4J may give a one-row array stride 1 ({@code Nd4j.ones(1, n)} does),
   * which BLAS refuses as a leading dimension below n, computing nothing.
   */
  private static int lead(INDArray a) {
    return (int) (a.size(0) == 1 ? a.size(1) : a.stride(0));
  }

  private static String shape(INDArray a, boolean transposed) {
    return "[" + a.size(0) + ", " + a.size(1) + "]" + (transposed ? "ᵀ" : "");
  }
}
