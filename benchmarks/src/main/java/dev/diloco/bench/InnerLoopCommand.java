package dev.diloco.bench;

import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code diloco bench worker}: the inner step's throughput beside the machine's sgemm. */
@Command(
    name = "worker",
    mixinStandardHelpOptions = true,
    description = {
        "Times the worker's inner step (windows, forward and backward, AdamW, loading the new "
            + "weights) for each preset, and prints tokens/s and model GFLOP/s as a share of "
            + "an ND4J sgemm measured in the same run, with milliseconds per part of the step."})
final class InnerLoopCommand implements Callable<Integer> {

  @Option(names = "--presets", defaultValue = "tiny,small", split = ",", paramLabel = "NAME,...",
      description = "Model presets (default: ${DEFAULT-VALUE}).")
  List<String> presets;

  @Option(names = "--batch", defaultValue = "8", paramLabel = "B",
      description = "Sequences per step, as diloco run's default (default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--steps", defaultValue = "30", paramLabel = "N",
      description = "Timed steps per preset (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(names = "--warmup", defaultValue = "20", paramLabel = "N",
      description = "Untimed steps first: the JIT compiles the model's loops in about 20 "
          + "(default: ${DEFAULT-VALUE}).")
  int warmup;

  @Option(names = "--sgemm-size", defaultValue = "1024", paramLabel = "N",
      description = "The baseline's square matrices (default: ${DEFAULT-VALUE}).")
  int sgemmSize;

  @Option(names = "--vocab", defaultValue = "0", paramLabel = "V",
      description = "Every preset over a vocabulary of V tokens, e.g. GPT-2's 50257; 0 for each "
          + "preset's own (default: ${DEFAULT-VALUE}).")
  int vocab;

  @Override
  public Integer call() {
    presets.forEach(dev.diloco.worker.ModelConfig::preset); // an unknown name, said at once
    InnerLoopBench.run(new InnerLoopBench.Settings(presets, batch, steps, warmup, sgemmSize,
        vocab),
        System.out);
    return 0;
  }
}
