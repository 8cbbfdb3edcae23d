package dev.diloco.bench;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs {@link CodecBenchmark} and prints each benchmark in GB/s of FP16 data (1 MiB per chunk)
 * and as a ratio to {@code System.arraycopy} of the same 1 MiB, measured in the same run.
 */
public final class CodecReport {

  public static void main(String[] args) throws RunnerException {
    Options options = new OptionsBuilder()
        .include(CodecBenchmark.class.getName())
        .build();
    Collection<RunResult> results = new Runner(options).run();

    Map<String, double[]> byName = new LinkedHashMap<>();
    for (RunResult r : results) {
      String name = r.getParams().getBenchmark();
      name = name.substring(name.lastIndexOf('.') + 1);
      byName.put(name, new double[] {r.getPrimaryResult().getScore(),
          r.getPrimaryResult().getScoreError()});
    }
    double baseline = byName.get("arraycopyFp16Bytes")[0];
    System.out.printf("%nchunk: %d elements = %d bytes of FP16%n", CodecBenchmark.ELEMENTS,
        CodecBenchmark.FP16_BYTES);
    System.out.printf("%-22s %12s %10s %14s%n", "benchmark", "chunks/s", "GB/s FP16",
        "vs arraycopy");
    for (Map.Entry<String, double[]> e : byName.entrySet()) {
      double opsPerSecond = e.getValue()[0];
      System.out.printf("%-22s %12.1f %10.2f %14.3f%n", e.getKey(), opsPerSecond,
          opsPerSecond * CodecBenchmark.FP16_BYTES / 1e9, opsPerSecond / baseline);
    }
  }
}
