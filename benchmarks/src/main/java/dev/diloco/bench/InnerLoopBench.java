package dev.diloco.bench;

import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.worker.AdamW;
import dev.diloco.worker.BuiltInCorpus;
import dev.diloco.worker.ByteCorpus;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.model.Backend;
import dev.diloco.worker.model.Transformer;
import java.io.PrintStream;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The worker's inner step as the worker runs it (draw windows, forward and backward, AdamW,
 * load the new weights into the model), timed part by part, beside a single-precision matrix
 * product (sgemm) of the same ND4J measured in the same run: the machine's peak for this code.
 * Model FLOPs per token are PaLM's count, 6 N + 12 L T C, with N the parameters of every
 * matrix product (not the gathered embeddings; the head, tied or not).
 */
final class InnerLoopBench {

  /** What to time: presets at a batch, so many steps after so many of warm-up. */
  record Settings(List<String> presets, int batch, int steps, int warmup, int sgemmSize,
      int vocab) {
    Settings {
      if (presets.isEmpty() || batch < 1 || steps < 1 || warmup < 0 || sgemmSize < 64
          || vocab != 0 && vocab < ModelConfig.VOCAB) {
        throw new IllegalArgumentException("need presets, --batch >= 1, --steps >= 1, "
            + "--warmup >= 0, --sgemm-size >= 64 and --vocab 0 or >= 256; got " + presets + ", "
            + batch + ", " + steps + ", " + warmup + ", " + sgemmSize + ", " + vocab);
      }
    }
  }

  /** One preset's figures: seconds per step of each part, and what they come to. */
  record Row(String preset, long parameters, int batch, int context, double drawSeconds,
      double gradientSeconds, double adamwSeconds, double loadSeconds, double flopsPerToken,
      double embeddingShare, double headShare) {
    double stepSeconds() {
      return drawSeconds + gradientSeconds + adamwSeconds + loadSeconds;
    }

    double tokensPerSecond() {
      return batch * (double) context / stepSeconds();
    }

    double gflops() {
      return tokensPerSecond() * flopsPerToken / 1e9;
    }
  }

  private InnerLoopBench() {}

  /**
   * GFLOP/s of an n x n by n x n product into a kept array, the best of twenty after two of
   * warm-up: the machine's sgemm as the model calls it, OpenBLAS's cblas_sgemm on the arrays'
   * memory. Not {@code mmuli}: its op machinery took a third of the time at n = 1,024 (98
   * GFLOP/s where the same product ran at 150); nor {@code Nd4j.gemm}: at two threads its best
   * of five was 92-135 GFLOP/s in some JVMs and 273-278 in others (this: 187-298).
   */
  static double sgemmGflops(int n) {
    INDArray a = Nd4j.rand(DataType.FLOAT, n, n);
    INDArray b = Nd4j.rand(DataType.FLOAT, n, n);
    INDArray c = Nd4j.create(DataType.FLOAT, n, n);
    Runnable product = Transformer.runsHere() ? () -> openblas_nolapack.cblas_sgemm(
        openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
        openblas_nolapack.CblasNoTrans, n, n, n, 1f, pointer(a), n, pointer(b), n, 0f,
        pointer(c), n)
        // another backend's arrays are not in this process's memory
        : () -> Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
    double best = Double.MAX_VALUE;
    for (int i = 0; i < 22; i++) {
      long t0 = System.nanoTime();
      product.run();
      double s = (System.nanoTime() - t0) / 1e9;
      if (i >= 2) {
        best = Math.min(best, s);
      }
    }
    return 2.0 * n * n * (double) n / best / 1e9;
  }

  private static FloatPointer pointer(INDArray a) {
    return (FloatPointer) a.data().addressPointer();
  }

  static Row time(String preset, int vocab, int batch, int steps, int warmup) {
    ModelConfig config = vocab == 0 ? ModelConfig.preset(preset)
        : ModelConfig.preset(preset).withVocab(vocab);
    LanguageModel model = LanguageModel.of(config, batch, 1);
    ParameterLayout layout = model.layout();
    float[] params = new float[Math.toIntExact(layout.totalElements())];
    float[] grad = new float[params.length];
    model.parameters(params);
    AdamW adamw = new AdamW(AdamW.Config.OPENDILOCO, layout);
    byte[] data = BuiltInCorpus.generate(1 << 20, 1);
    long draw = 0;
    long gradient = 0;
    long step = 0;
    long load = 0;
    LanguageModel.Parts before = null;
    for (int i = 0; i < warmup + steps; i++) {
      if (i == warmup) {
        before = model.parts();
      }
      long t0 = System.nanoTime();
      int[][] windows = ByteCorpus.windows(data, batch, config.contextLength(),
          new SplittableRandom(i));
      long t1 = System.nanoTime();
      model.lossAndGradient(windows, grad);
      long t2 = System.nanoTime();
      adamw.step(params, grad);
      long t3 = System.nanoTime();
      model.setParameters(params);
      long t4 = System.nanoTime();
      if (i >= warmup) {
        draw += t1 - t0;
        gradient += t2 - t1;
        step += t3 - t2;
        load += t4 - t3;
      }
    }
    // Products only: not the position tables, nor the token table unless it is the tied head.
    java.util.Set<String> gathered = java.util.Set.of("wpe", "transformer.wpe.weight",
        "model.embed_tokens.weight", "transformer.wte.weight", "wte");
    long matrices = layout.tensors().stream().filter(t -> t.shape().size() == 2
        && (!gathered.contains(t.name()) || config.tiedHead() && t.shape().get(0)
            == config.vocab())).mapToLong(ParameterLayout.Tensor::elementCount).sum();
    double flopsPerToken = 6.0 * matrices
        + 12.0 * config.layers() * config.contextLength() * config.dModel();
    LanguageModel.Parts after = model.parts();
    double total = draw + gradient + step + load;
    return new Row(preset, layout.totalElements(), batch, config.contextLength(),
        draw / 1e9 / steps, gradient / 1e9 / steps, step / 1e9 / steps, load / 1e9 / steps,
        flopsPerToken, (after.embeddingNanos() - before.embeddingNanos()) / total,
        (after.headNanos() - before.headNanos()) / total);
  }

  /** Runs it and prints the table; returns the rows. */
  static List<Row> run(Settings s, PrintStream out) {
    String threads = System.getenv("OMP_NUM_THREADS");
    out.printf("inner loop: batch %d, %d steps after %d of warm-up, ND4J on %s threads, %s%n",
        s.batch(), s.steps(), s.warmup(), threads != null ? threads
            : String.valueOf(Runtime.getRuntime().availableProcessors()), Backend.describe());
    double peak = sgemmGflops(s.sgemmSize());
    out.printf("sgemm %d x %d x %d: %.1f GFLOP/s (best of 20): the baseline%n%n", s.sgemmSize(),
        s.sgemmSize(), s.sgemmSize(), peak);
    out.println("| preset | parameters | batch x context | tokens/s | model GFLOP/s | of sgemm "
        + "| ms/step: draw | forward+backward | AdamW | load weights | of the step: embedding "
        + "| head and loss |");
    out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    List<Row> rows = s.presets().stream().map(p -> time(p, s.vocab(), s.batch(), s.steps(), s.warmup()))
        .toList();
    for (Row r : rows) {
      out.printf("| %s | %,d | %d x %d | %,.0f | %.2f | %.1f%% | %.2f | %.1f | %.2f | %.2f "
          + "| %.1f%% | %.1f%% |%n", r.preset(), r.parameters(), r.batch(), r.context(),
          r.tokensPerSecond(), r.gflops(), 100 * r.gflops() / peak, 1e3 * r.drawSeconds(),
          1e3 * r.gradientSeconds(), 1e3 * r.adamwSeconds(), 1e3 * r.loadSeconds(),
          100 * r.embeddingShare(), 100 * r.headShare());
    }
    return rows;
  }
}
