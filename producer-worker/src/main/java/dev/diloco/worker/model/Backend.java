package dev.diloco.worker.model;

import org.bytedeco.javacpp.BytePointer;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Which kernels ND4J's products run on in this process, said in the worker's log and beside
 * every benchmark: one build ran its sgemm at 29 or 94 GFLOP/s on the same host depending on
 * the kernels OpenBLAS chose for the CPU ({@code OPENBLAS_CORETYPE} overrides its choice).
 */
public final class Backend {
  private Backend() {}

  /** E.g. "OpenBLAS 0.3.31 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=128". */
  public static String describe() {
    if (!Transformer.runsHere()) {
      return "ND4J " + Nd4j.getBackend().getClass().getSimpleName();
    }
    return openblas("openblas_get_config").trim();
  }

  /** The CPU kernels OpenBLAS picked for this machine: "Haswell", "SkylakeX", "Prescott" ... */
  public static String openblasCore() {
    return openblas("openblas_get_corename");
  }

  /**
   * Calls one of OpenBLAS's string functions, after ND4J has loaded it as it wants. Through
   * reflection: JavaCPP binds them from 1.5.8 on ({@code openblas_full}, the same libopenblas as
   * ND4J's {@code openblas_nolapack}); the CUDA profile compiles against 1.5.7, which has none,
   * and never gets here.
   */
  private static String openblas(String function) {
    Nd4j.create(1);
    try {
      Object s = Class.forName("org.bytedeco.openblas.global.openblas_full").getMethod(function)
          .invoke(null);
      return ((BytePointer) s).getString();
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("OpenBLAS's " + function + " is not bound by this "
          + "build's JavaCPP (1.5.8 or later binds it)", e);
    }
  }
}
