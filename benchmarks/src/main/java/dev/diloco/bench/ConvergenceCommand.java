package dev.diloco.bench;

import dev.diloco.launcher.options.RunSpecOptions;
import dev.diloco.schemas.Overlap;
import dev.diloco.worker.RunSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code diloco bench convergence}: the arms of {@link ConvergenceBench}, as options. */
@Command(
    name = "convergence",
    mixinStandardHelpOptions = true,
    description = {
        "Trains the same model from the same weights (a shared warm start) with the same "
            + "budget of inner steps per worker in several arms, each at its best learning "
            + "rate from a sweep, and compares their eval loss on the same held-out windows, "
            + "with standard errors: one worker alone and data-parallel with k times the "
            + "batch (in process, its bytes counted), swept over the inner rate; DiLoCo with k "
            + "workers swept over the outer rate in process (the pipeline's arithmetic, one "
            + "process a point), its best then run over the real pipeline with FP16 "
            + "pseudo-gradients. With --arms, also FP32, INT8 and INT4 over the pipeline "
            + "(DiLoCo FP32, DiLoCo INT8 + error feedback, DiLoCo INT4 + error feedback, "
            + "DiLoCo INT4); in process, other H (--sweep-h) and k (--sweep-k).",
        "Writes convergence.md, convergence.csv, convergence-sweep.csv, convergence.png and "
            + "each DiLoCo arm's run directory under --out. The arms choose the codec and "
            + "the sweep the learning rates; --codec, --inner-lr (but for the warm start) "
            + "and --outer-lr are not used."})
final class ConvergenceCommand implements Callable<Integer> {

  @Option(names = "--workers", defaultValue = "4", paramLabel = "K",
      description = "Workers of DiLoCo, and the data-parallel batch factor "
          + "(default: ${DEFAULT-VALUE}).")
  int workers;

  @Option(names = "--rounds", defaultValue = "20", paramLabel = "R",
      description = "Rounds at the main H: the budget is R x H inner steps per worker "
          + "(default: ${DEFAULT-VALUE}).")
  int rounds;

  @Option(names = "--data", paramLabel = "PATH",
      description = "Text file or directory (read as bytes), or tokens: a token file, or "
          + "the directory or manifest diloco tokenize wrote (default: the built-in synthetic "
          + "corpus; the published comparisons use Tiny Shakespeare).")
  Path data;

  @Option(names = "--vocab-size", defaultValue = "0", paramLabel = "N",
      description = "The vocabulary of a token file without a manifest (llm.c's, or nanoGPT's "
          + "headerless .bin).")
  int vocabSize;

  @Option(names = "--out", paramLabel = "DIR",
      description = "Where the results go (default: runs/bench-convergence-DATE-TIME).")
  Path out;

  @Option(names = "--sweep-h", split = ",", paramLabel = "H1,H2,...",
      description = "Also DiLoCo FP16 in process with these H, each over the same budget, "
          + "at the sweep's learning rates, e.g. 10,50,200.")
  List<Integer> sweepH = new ArrayList<>();

  @Option(names = "--sweep-k", split = ",", paramLabel = "K1,K2,...",
      description = "Also DiLoCo FP16 in process with these numbers of workers, each beside "
          + "data-parallel with k times the batch, at the sweep's learning rates, e.g. 2,8.")
  List<Integer> sweepK = new ArrayList<>();

  @Option(names = "--single-lr", split = ",", paramLabel = "LR,...",
      defaultValue = ConvergenceBench.SINGLE_LR,
      description = "The single worker's inner learning rates to sweep; the best is also "
          + "DiLoCo's inner rate (default: ${DEFAULT-VALUE}).")
  List<Double> singleLr;

  @Option(names = "--data-parallel-lr", split = ",", paramLabel = "LR,...",
      defaultValue = ConvergenceBench.DATA_PARALLEL_LR,
      description = "Data-parallel's learning rates to sweep (default: ${DEFAULT-VALUE}).")
  List<Double> dataParallelLr;

  @Option(names = "--outer-lr-sweep", split = ",", paramLabel = "LR,...",
      defaultValue = ConvergenceBench.OUTER_LR,
      description = "DiLoCo's outer learning rates to sweep in process; the best runs through "
          + "the pipeline (default: ${DEFAULT-VALUE}).")
  List<Double> outerLr;

  @Option(names = "--eval-windows", defaultValue = "512", paramLabel = "N",
      description = "Held-out windows of the final losses, a multiple of the batch; as many "
          + "others choose the sweep's points (default: ${DEFAULT-VALUE}).")
  int evalWindows;

  @Option(names = "--warm-start", defaultValue = "1000", paramLabel = "STEPS",
      description = "First train one worker this many steps at --inner-lr, and start every "
          + "arm from its weights, as the DiLoCo paper starts from a pretrained model; 0 "
          + "starts from the seed's weights (default: ${DEFAULT-VALUE}).")
  int warmStart;

  @Option(names = "--threads", paramLabel = "N",
      description = "Sweep points trained at once (default: the cores).")
  Integer threads;

  @Option(names = "--non-iid", description = "Also DiLoCo FP16 on non-iid shards.")
  boolean nonIid;

  @Option(names = "--quick",
      description = "A smoke test: 2 workers, 2 rounds of H = 5 after a warm start of 5 "
          + "steps, 64 eval windows, the first rate of each local grid and the first two "
          + "outer rates, whatever else is given.")
  boolean quick;

  @Option(names = "--overlap-arms", split = ",", paramLabel = "MODE,...",
      description = "Also DiLoCo FP16 with overlapped rounds in these modes (eager, delayed), "
          + "over the same budget and seed.")
  List<String> overlapArms = new ArrayList<>();

  @Option(names = "--arms", split = ",", paramLabel = "NAME,...",
      description = "Run only these arms, by name as the table prints them (data-parallel "
          + "and DiLoCo FP16 always run: the table compares against them).")
  List<String> arms = new ArrayList<>();

  @Mixin
  RunSpecOptions options;

  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec command;

  @Override
  public Integer call() throws Exception {
    if (data != null && !Files.exists(data)) {
      throw new IllegalArgumentException("data path " + data + " does not exist");
    }
    if (quick) {
      workers = 2;
      rounds = 2;
      evalWindows = 64;
      warmStart = Math.min(warmStart, 5);
      singleLr = singleLr.subList(0, 1);
      dataParallelLr = dataParallelLr.subList(0, 1);
      outerLr = outerLr.subList(0, Math.min(2, outerLr.size()));
      options.setInnerSteps(5);
    }
    Path dir = out != null ? out : Path.of("runs", "bench-convergence-"
        + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    RunSpec spec = options.spec("bench");
    // The model's vocabulary is the data's, as diloco run sizes it.
    spec = options.fitTo(spec, data, vocabSize);
    if (spec.overlap() != Overlap.NONE) {
      throw new IllegalArgumentException("the convergence benchmark's arms choose their "
          + "overlap: use --overlap-arms " + spec.overlap().name().toLowerCase(Locale.ROOT));
    }
    List<Overlap> modes = new ArrayList<>();
    for (String mode : overlapArms) {
      Overlap m = RunSpecOptions.overlap(mode, "--overlap-arms");
      if (m == Overlap.NONE) {
        throw new IllegalArgumentException("--overlap-arms takes eager or delayed: the FP16 "
            + "arm is the one without overlap");
      }
      modes.add(m);
    }
    var settings = new ConvergenceSettings(options.model(), spec, workers, rounds, data,
        dir, sweepH, sweepK, nonIid, options.init(), options.blockSize(), modes,
        new java.util.LinkedHashSet<>(arms),
        new ConvergenceSettings.Grids(singleLr, dataParallelLr, outerLr), evalWindows,
        threads != null ? threads : Runtime.getRuntime().availableProcessors(), warmStart);
    ConvergenceBench bench = new ConvergenceBench(settings, System.out);
    long start = System.nanoTime();
    ConvergenceBench.Result result = bench.run();
    String command = "./diloco " + String.join(" ",
        this.command.commandLine().getParseResult().originalArgs());
    System.out.printf("%n%s%nIn %s: convergence.md, convergence.csv, convergence-sweep.csv, "
        + "convergence.png; %.0f s in all%n", bench.report().write(result, command.trim()),
        dir, (System.nanoTime() - start) / 1e9);
    return 0;
  }
}
