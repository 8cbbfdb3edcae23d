package dev.diloco.bench;

import dev.diloco.launcher.options.Durations;
import dev.diloco.launcher.options.RunSpecOptions;
import dev.diloco.schemas.Overlap;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code diloco bench wan}: synchronous against overlapped rounds over slow links. */
@Command(
    name = "wan",
    mixinStandardHelpOptions = true,
    description = {
        "Runs the same small run synchronously and with overlapped rounds over emulated slow "
            + "links: the broker, reducer and optimizer in a network namespace of their own, "
            + "each worker in another, joined by veth pairs limited both ways with tc tbf (needs "
            + "root, iproute2 and tc). No latency is emulated (netem is not on these machines). "
            + "Prints per link speed and mode the compute, wait, utilisation, round time and "
            + "bytes beside the bytes/bandwidth floor; removes every namespace, link and qdisc "
            + "it made, also when interrupted.",
        "Exit 1 unless, on some link where synchronous rounds keep <= 80% utilisation, "
            + "overlapped rounds keep >= 99% on every such link, and every run replays."})
final class WanCommand implements Callable<Integer> {

  @Option(names = "--rates", split = ",", defaultValue = "1gbit,100mbit,20mbit,5mbit",
      paramLabel = "RATE,...",
      description = "Link speeds, each way (default: ${DEFAULT-VALUE}).")
  List<String> rates;

  @Option(names = "--modes", split = ",", defaultValue = "none,eager", paramLabel = "MODE,...",
      description = "Overlap modes to run at each speed: none, eager, delayed "
          + "(default: ${DEFAULT-VALUE}).")
  List<String> modes;

  @Option(names = "--workers", defaultValue = "2", paramLabel = "N",
      description = "Workers, each on a link of its own (default: ${DEFAULT-VALUE}).")
  int workers;

  @Option(names = "--rounds", defaultValue = "8", paramLabel = "R",
      description = "Rounds per run (default: ${DEFAULT-VALUE}).")
  int rounds;

  @Option(names = "--inner-steps", defaultValue = "20", paramLabel = "H",
      description = "Inner steps a round, tiny model (default: ${DEFAULT-VALUE}).")
  int innerSteps;

  @Option(names = "--batch", defaultValue = "8", paramLabel = "B",
      description = "Sequences per inner step (default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--data", paramLabel = "PATH",
      description = "Training text for the workers (default: the built-in corpus).")
  Path data;

  @Option(names = "--budget", defaultValue = "40m", converter = Durations.class,
      paramLabel = "DURATION",
      description = "The whole bench ends within this, passed or not (default: ${DEFAULT-VALUE}).")
  Duration budget;

  @Option(names = "--out", paramLabel = "DIR",
      description = "Where the report and the logs go (default: runs/bench-wan-DATE-TIME).")
  Path out;

  @Override
  public Integer call() throws Exception {
    List<Long> bits = new ArrayList<>();
    rates.forEach(r -> bits.add(WanReport.parseRate(r)));
    List<Overlap> overlap = new ArrayList<>();
    modes.forEach(m -> overlap.add(RunSpecOptions.overlap(m, "--modes")));
    if (data != null && !Files.exists(data)) {
      throw new IllegalArgumentException("data path " + data + " does not exist");
    }
    Path dir = out != null ? out : Path.of("runs", "bench-wan-"
        + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    WanBench.Settings settings = new WanBench.Settings(bits, overlap, workers, rounds,
        innerSteps, batch, data, dir, Duration.ofMinutes(5), budget);
    List<WanBench.Arm> arms = new WanBench(settings, System.out).run();
    String md = WanReport.markdown(arms, settings);
    Files.writeString(dir.resolve("wan.md"), md);
    Files.writeString(dir.resolve("wan-rounds.csv"), WanReport.csv(arms));
    System.out.printf("%n%s%nIn %s: wan.md, wan-rounds.csv, logs/%n", md, dir);
    return WanReport.passed(arms) ? 0 : 1;
  }
}
