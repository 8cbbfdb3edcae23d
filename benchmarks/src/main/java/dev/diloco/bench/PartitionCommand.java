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

/** {@code diloco bench partition}: a worker cut off by the network ({@link PartitionBench}). */
@Command(
    name = "partition",
    mixinStandardHelpOptions = true,
    description = {
        "Cuts one of two workers off the cluster, by the network and not by killing it: the "
            + "worker runs in a network namespace of its own joined by a veth pair (needs root "
            + "and iproute2), whose link goes down for --down, longer than the round deadline, "
            + "then up again. Prints which rounds were summed without it, when it rejoined, and "
            + "the replay's verdict; removes the namespace and the link it made, also when "
            + "interrupted. Exit 1 unless the worker rejoined and every round replays."})
final class PartitionCommand implements Callable<Integer> {

  @Option(names = "--inner-steps", defaultValue = "40", paramLabel = "H",
      description = "Inner steps a round, tiny model at batch 4 (default: ${DEFAULT-VALUE}).")
  int innerSteps;

  @Option(names = "--round-timeout", defaultValue = "20s", converter = Durations.class,
      paramLabel = "DURATION",
      description = "The reducer's round deadline (default: ${DEFAULT-VALUE}).")
  Duration roundTimeout;

  @Option(names = "--down", defaultValue = "60s", converter = Durations.class,
      paramLabel = "DURATION",
      description = "How long the link stays down (default: ${DEFAULT-VALUE}).")
  Duration down;

  @Option(names = "--out", paramLabel = "DIR",
      description = "Where the report and the logs go (default: runs/bench-partition-DATE-TIME).")
  Path out;

  @Override
  public Integer call() throws Exception {
    if (down.compareTo(roundTimeout) <= 0) {
      throw new IllegalArgumentException("--down (" + down + ") must be longer than "
          + "--round-timeout (" + roundTimeout + "): the point is a worker gone past a deadline");
    }
    Path dir = out != null ? out : Path.of("runs", "bench-partition-"
        + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    PartitionBench bench = new PartitionBench(new PartitionBench.Settings(innerSteps,
        roundTimeout, down, Duration.ofMinutes(5), dir), System.out);
    PartitionBench.Result result = bench.run();
    String md = bench.markdown(result);
    Files.writeString(dir.resolve("partition.md"), md);
    System.out.printf("%n%s%nIn %s: partition.md, logs/%n", md, dir);
    boolean rejoined = result.rows().stream().anyMatch(r -> r.round() == result.rejoinedIn()
        && r.contributors().contains("w1"));
    return rejoined && result.replay().ok() ? 0 : 1;
  }
}
