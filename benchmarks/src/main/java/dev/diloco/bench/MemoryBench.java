package dev.diloco.bench;

import dev.diloco.bench.Fleet.Kind;
import dev.diloco.bench.Fleet.Service;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.log.CommitWatcher;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.WorkerHeartbeat;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Whether the reducer's and the optimizer's memory grows with the rounds: N simulated workers
 * (FP16 Gaussian pseudo-gradients, {@link SyntheticRun}) through {@code diloco reducer} and
 * {@code diloco optimizer}, each a process of its own, on one broker. After every round it asks
 * each process (with {@code jcmd}) for its heap in use, then for a full GC and its live heap.
 */
final class MemoryBench {

  record Settings(int workers, int rounds, int parameters, int chunkElements, int partitions,
      String heap) {
    Settings {
      if (workers < 1 || rounds < 2 || parameters < 1) {
        throw new IllegalArgumentException("the memory benchmark needs >= 1 worker, >= 2 rounds "
            + "and >= 1 parameter, got " + workers + ", " + rounds + ", " + parameters);
      }
      Fleet.requireHeap(heap);
    }
  }

  /** Bytes of heap of each service after round {@code round}: in use, and live after a GC. */
  record Sample(int round, long reducerUsed, long reducerLive, long optimizerUsed,
      long optimizerLive) {}

  private static final Pattern USED = Pattern.compile("total \\d+K, used (\\d+)K");

  private final Settings s;
  private final PrintStream console;

  MemoryBench(Settings settings, PrintStream console) {
    this.s = settings;
    this.console = console;
  }

  List<Sample> run(KafkaClientConfig clients, Path dir) throws Exception {
    SyntheticRun run = new SyntheticRun("memory", s.workers(), s.parameters(),
        s.chunkElements(), s.partitions(), clients);
    String runId = run.topics.runId();
    run.createTopics();
    try (OuterOptimizer round0 = new OuterOptimizer(runId, clients, WarmupCosine.CONSTANT, null)) {
      round0.open(run.description(), SyntheticRun.gaussian(new Random(-1), s.parameters(),
          0.02f));
    }
    List<String> cluster = List.of("--run", runId, "--bootstrap-servers",
        clients.bootstrapServers());
    List<Sample> samples = new ArrayList<>();
    try (Fleet fleet = new Fleet(Files.createDirectories(dir.resolve("logs")));
        CommitWatcher commits = new CommitWatcher(run.topics, clients)) {
      fleet.start(new Service("optimizer", Kind.OPTIMIZER, s.heap(), "outer optimizer of run",
          Fleet.args(List.of("optimizer"), cluster, List.of("--key",
              dir.resolve("unsigned.key").toString()))));
      fleet.start(new Service("reducer", Kind.REDUCER, s.heap(), "running on", Fleet.args(
          List.of("reducer"), cluster, List.of("--quorum", Integer.toString(s.workers()),
              "--state-dir", dir.resolve("reducer").toString(), "--metrics-every", "1h"))));
      for (int round = 0; round < s.rounds(); round++) {
        long t0 = System.nanoTime();
        announce(run, round, clients);
        RawKafka.produce(run.chunkRecords(round), clients);
        int next = round + 1;
        commits.await(next, Duration.ofMinutes(10)).filter(c -> c.getRound() >= next)
            .orElseThrow(() -> new IllegalStateException("round " + next + " was not committed "
                + "within 10 minutes; see " + dir.resolve("logs")));
        long[] reducer = heap(fleet.pid("reducer"));
        long[] optimizer = heap(fleet.pid("optimizer"));
        Sample sample = new Sample(round, reducer[0], reducer[1], optimizer[0], optimizer[1]);
        samples.add(sample);
        console.printf("  round %d in %.1f s: reducer %s in use, %s live; optimizer %s in use, "
            + "%s live%n", round, (System.nanoTime() - t0) / 1e9, mib(reducer[0]),
            mib(reducer[1]), mib(optimizer[0]), mib(optimizer[1]));
      }
    }
    return samples;
  }

  /** Every worker's JOIN of {@code round}, as workers announce each round they train. */
  private static void announce(SyntheticRun run, int round, KafkaClientConfig clients) {
    AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);
    List<ProducerRecord<byte[], byte[]>> joins = new ArrayList<>();
    for (int w = 0; w < run.workers; w++) {
      joins.add(new ProducerRecord<>(run.topics.membership(),
          SyntheticRun.worker(w).getBytes(StandardCharsets.UTF_8), serde.encode(
              TestRuns.heartbeat(run.topics.runId(), SyntheticRun.worker(w), round,
                  HeartbeatKind.JOIN))));
    }
    RawKafka.produce(joins, clients);
  }

  /** A process's heap in use, then live after a full GC, in bytes ({@code jcmd}). */
  static long[] heap(long pid) throws IOException, InterruptedException {
    long used = heapInfo(pid);
    jcmd(pid, "GC.run");
    return new long[] {used, heapInfo(pid)};
  }

  private static long heapInfo(long pid) throws IOException, InterruptedException {
    Matcher m = USED.matcher(jcmd(pid, "GC.heap_info"));
    long kib = 0;
    while (m.find()) {
      kib += Long.parseLong(m.group(1));
    }
    if (kib == 0) {
      throw new IllegalStateException("jcmd " + pid + " GC.heap_info said no heap in use");
    }
    return kib * 1024;
  }

  private static String jcmd(long pid, String command) throws IOException, InterruptedException {
    Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
    if (!Files.isExecutable(jcmd)) {
      throw new IllegalStateException("the memory benchmark needs jcmd from a JDK; " + jcmd
          + " is not there");
    }
    Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), command)
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IllegalStateException("jcmd " + pid + " " + command + " failed: " + out);
    }
    return out;
  }

  String markdown(List<Sample> samples) {
    StringBuilder md = new StringBuilder(String.format("# Memory with %d workers%n%n"
        + "%,d parameters in chunks of %,d, %d partitions; reducer and optimizer each a process "
        + "at -Xmx%s. Heap in use after each round, and live after a full GC (jcmd).%n%n"
        + "| round | reducer in use | reducer live | optimizer in use | optimizer live |%n"
        + "| ---: | ---: | ---: | ---: | ---: |%n", s.workers(), s.parameters(),
        s.chunkElements(), s.partitions(), s.heap()));
    for (Sample x : samples) {
      md.append(String.format("| %d | %s | %s | %s | %s |%n", x.round(), mib(x.reducerUsed()),
          mib(x.reducerLive()), mib(x.optimizerUsed()), mib(x.optimizerLive())));
    }
    Sample second = samples.get(1);
    Sample last = samples.get(samples.size() - 1);
    md.append(String.format("%nPeak in use: reducer %s, optimizer %s. Live heap, last round "
        + "against round 1: reducer %.2fx, optimizer %.2fx.%n",
        mib(samples.stream().mapToLong(Sample::reducerUsed).max().orElse(0)),
        mib(samples.stream().mapToLong(Sample::optimizerUsed).max().orElse(0)),
        (double) last.reducerLive() / second.reducerLive(),
        (double) last.optimizerLive() / second.optimizerLive()));
    return md.toString();
  }

  static String mib(long bytes) {
    return String.format("%.1f MiB", bytes / 1048576.0);
  }
}
