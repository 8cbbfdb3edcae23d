package dev.diloco.bench;

import dev.diloco.launcher.options.Durations;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code diloco bench faults}: the fault-injection soak ({@link FaultSoak}). */
@Command(
    name = "faults",
    mixinStandardHelpOptions = true,
    description = {
        "The fault-injection soak: a small run as separate processes (3 brokers with "
            + "replication 3 and min ISR 2, 2 reducer instances, the optimizer, --workers "
            + "workers with state directories), killed one at a time with SIGKILL at random "
            + "moments from --seed (worker, reducer, optimizer, broker in turn) and started "
            + "again; then the same run without faults, every round's SHA-256 compared, and a "
            + "replay of the faulty run.",
        "Prints the faults by kind, the rounds compared, the verdict and the time lost; "
            + "writes soak.md, faults.csv and every process's log under --out. Exit 1 unless "
            + "it passed."})
final class FaultsCommand implements Callable<Integer> {

  @Option(names = "--faults", defaultValue = "100", paramLabel = "N",
      description = "Faults to inject (default: ${DEFAULT-VALUE}).")
  int faults;

  @Option(names = "--workers", defaultValue = "2", paramLabel = "K",
      description = "Workers (default: ${DEFAULT-VALUE}).")
  int workers;

  @Option(names = "--model", defaultValue = "tiny", paramLabel = "PRESET",
      description = "The model preset, over bytes (default: ${DEFAULT-VALUE}).")
  String model;

  @Option(names = "--inner-steps", defaultValue = "10", paramLabel = "H",
      description = "Inner steps a round, at batch 4 (default: ${DEFAULT-VALUE}).")
  int innerSteps;

  @Option(names = "--codec", defaultValue = "fp16", paramLabel = "CODEC",
      description = "Pseudo-gradients: fp32, fp16, bf16, int8 or int4 (the last two with error "
          + "feedback, whose residual must survive a worker's restart too) "
          + "(default: ${DEFAULT-VALUE}).")
  String codec;

  @Option(names = "--seed", defaultValue = "1", paramLabel = "S",
      description = "Seed of the run and of the faults (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--gap", defaultValue = "2s", converter = Durations.class,
      paramLabel = "DURATION",
      description = "From a victim's restart to the next fault (of a service that serves): a "
          + "random time in [gap, 2 gap] (default: ${DEFAULT-VALUE}).")
  Duration gap;

  @Option(names = "--max-down", defaultValue = "3s", converter = Durations.class,
      paramLabel = "DURATION",
      description = "A killed service stays down a random time up to this "
          + "(default: ${DEFAULT-VALUE}).")
  Duration maxDown;

  @Option(names = "--stall", defaultValue = "5m", converter = Durations.class,
      paramLabel = "DURATION",
      description = "No new round for this long is a hang, and fails the soak "
          + "(default: ${DEFAULT-VALUE}).")
  Duration stall;

  @Option(names = "--budget", defaultValue = "30m", converter = Durations.class,
      paramLabel = "DURATION",
      description = "The longest the soak may take; beyond it, it fails "
          + "(default: ${DEFAULT-VALUE}).")
  Duration budget;

  @Option(names = "--out", paramLabel = "DIR",
      description = "Where the report and the logs go (default: runs/bench-faults-DATE-TIME).")
  Path out;

  @Override
  public Integer call() throws Exception {
    Path dir = out != null ? out : Path.of("runs", "bench-faults-"
        + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    if (Files.exists(dir) && Files.list(dir).findAny().isPresent()) {
      throw new IllegalArgumentException("--out " + dir + " is not empty: a soak starts from "
          + "fresh brokers and runs");
    }
    var settings = new FaultSoak.Settings(faults, workers, model, innerSteps, codec, seed, gap,
        maxDown, stall, budget, dir);
    SoakReport report = new FaultSoak(settings, System.out).run();
    Files.writeString(dir.resolve("soak.md"), report.markdown());
    Files.writeString(dir.resolve("faults.csv"), report.faultsCsv());
    System.out.printf("%n%s%nIn %s: soak.md, faults.csv, logs/%n", report.markdown(), dir);
    return report.passed() ? 0 : 1;
  }
}
