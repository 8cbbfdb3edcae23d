package dev.diloco.launcher;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.CommitWatcher;
import dev.diloco.core.kafka.EmbeddedKafkaBroker;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RoundLog;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.Safetensors;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.optimizer.OuterSchedule;
import dev.diloco.reducer.Reducer;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundStats;
import dev.diloco.schemas.WorkerHeartbeat;
import dev.diloco.worker.ByteCorpus;
import dev.diloco.worker.EvalSet;
import dev.diloco.worker.ByteTransformer;
import dev.diloco.worker.RunSpec;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A whole run on one machine: the broker (embedded unless a cluster is given), the run's topics,
 * the optimizer and the reducer in this process, and each worker in a process of its own, so
 * that workers really run side by side and die and restart like machines. It follows the
 * commits, evaluates every round's weights, and leaves a run directory behind.
 */
final class LocalRun {

  private static final Logger LOG = LoggerFactory.getLogger(LocalRun.class);
  private static final int MAX_RESTARTS = 3;
  /** Batches of the held-out slice each round's eval loss is measured on. */
  static final int EVAL_BATCHES = 4;

  /** What the run is and where it goes. */
  /** {@code init}: a checkpoint to start from, or null for the seed's weights. */
  record Plan(RunSpec spec, int workers, int rounds, Path data, boolean nonIid, Path out,
      KafkaClientConfig cluster, int partitions, Path init) {}

  private final Plan plan;
  private final PrintStream console;
  private final List<Process> workers = new ArrayList<>();
  private final int[] restarts;
  private final AtomicBoolean finished = new AtomicBoolean();
  /** Each worker's (round, inner steps done), from its progress heartbeats. */
  private final Map<String, int[]> steps = new java.util.TreeMap<>();
  /** Whether a live progress line can be redrawn in place: only on a terminal. */
  private final boolean interactive = System.console() != null;

  LocalRun(Plan plan, PrintStream console) {
    this.plan = plan;
    this.console = console;
    this.restarts = new int[plan.workers()];
  }

  /** Runs it to the end; returns the summary. */
  RunSummary run(Map<String, Object> configuration) throws Exception {
    Files.createDirectories(plan.out());
    ByteCorpus corpus = plan.data() == null ? null : ByteCorpus.load(plan.data(), 0.1);
    EmbeddedKafkaBroker broker = plan.cluster() == null
        ? EmbeddedKafkaBroker.builder().logDir(plan.out().resolve("kafka")).start() : null;
    Thread shutdown = new Thread(this::killWorkers, "run-shutdown");
    Runtime.getRuntime().addShutdownHook(shutdown);
    try {
      KafkaClientConfig clients = broker != null
          ? KafkaClientConfig.of(broker.bootstrapServers()) : plan.cluster();
      return runOn(clients, corpus, configuration);
    } finally {
      killWorkers();
      if (broker != null) {
        broker.close();
      }
      try {
        Runtime.getRuntime().removeShutdownHook(shutdown);
      } catch (IllegalStateException exiting) {
        // the JVM is shutting down already: the hook runs
      }
    }
  }

  private RunSummary runOn(KafkaClientConfig clients, ByteCorpus corpus,
      Map<String, Object> configuration) throws Exception {
    RunSpec spec = plan.spec();
    RunTopics topics = new RunTopics(spec.runId());
    createTopics(topics, clients);
    ByteTransformer model = spec.newModel();
    float[] initial = RunSpecOptions.initialWeights(model, plan.init());
    ChunkPlan chunks = model.layout().chunks(spec.chunkElements());
    byte[] evalSlice = corpus != null ? corpus.evalSlice()
        : ByteCorpus.of(dev.diloco.worker.BuiltInCorpus.generate(1 << 22, 1), 0.1, "built-in")
            .evalSlice();
    EvalSet eval = new EvalSet(evalSlice, EVAL_BATCHES, model.batch(),
        spec.model().contextLength(), spec.seed());
    RunSummary summary = new RunSummary(configuration);
    AtomicBoolean stop = new AtomicBoolean();
    try (OuterOptimizer optimizer = new OuterOptimizer(spec.runId(), clients,
            OuterSchedule.CONSTANT, OuterOptimizer.Hooks.NONE);
        Reducer reducer = new Reducer(new ReducerConfig(spec.runId(), 1, Duration.ofMinutes(30),
            Duration.ofSeconds(1), plan.partitions()), clients, plan.out().resolve("reducer-state"),
            new SimpleMeterRegistry(), Map.of());
        CommitWatcher commits = new CommitWatcher(topics, clients);
        KafkaConsumer<byte[], byte[]> membership = new KafkaConsumer<>(clients.consumer(null),
            new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      optimizer.open(spec.describe(model), initial);
      reducer.start(Duration.ofMinutes(2));
      Thread optimizing = new Thread(() -> {
        try {
          while (!stop.get()) {
            optimizer.pollOnce(Duration.ofMillis(200));
          }
        } catch (org.apache.kafka.common.errors.WakeupException stopping) {
          // the run is over
        }
      }, "outer-optimizer");
      optimizing.setDaemon(true);
      optimizing.start();
      membership.assign(List.of(new TopicPartition(topics.membership(), 0)));
      membership.seekToBeginning(membership.assignment());
      RoundLog log = new RoundLog(topics, clients, Duration.ofSeconds(60));
      String bootstrap = clients.bootstrapServers();
      for (int w = 0; w < plan.workers(); w++) {
        workers.add(startWorker(w, bootstrap));
      }
      Map<Integer, List<RoundStats>> reports = new HashMap<>();
      long previousCommitMs = 0;
      int next = 0;
      try {
        while (next <= plan.rounds()) {
          superviseWorkers(bootstrap);
          readReports(membership, reports, Duration.ZERO);
          Optional<RoundCommit> c = commits.await(next, Duration.ofSeconds(1));
          if (c.isEmpty()) {
            showSteps(next - 1); // the round being trained is the one before the awaited commit
            continue;
          }
          for (; next <= Math.min(c.get().getRound(), plan.rounds()); next++) {
            RoundCommit commit = commits.round(next).orElseThrow();
            float[] weights = log.weights(commit, chunks);
            model.setParameters(weights);
            double evalLoss = eval.loss(model);
            // A worker reports a round after publishing it: wait a little for every contributor's.
            long reportsDeadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
            readReports(membership, reports, Duration.ZERO);
            while (reports.getOrDefault(next - 1, List.of()).size()
                < commit.getContributors().size() && System.nanoTime() < reportsDeadline) {
              readReports(membership, reports, Duration.ofMillis(100));
            }
            List<RoundStats> stats = reports.getOrDefault(next - 1, List.of());
            Double trainLoss = commit.getContributors().isEmpty() ? null
                : commit.getContributors().stream().mapToDouble(x -> x.getMeanInnerLoss())
                    .average().orElse(Double.NaN);
            Double utilisation = stats.isEmpty() ? null : stats.stream()
                .mapToDouble(s -> s.getComputeSeconds() / (s.getComputeSeconds()
                    + s.getWaitSeconds())).average().orElse(Double.NaN);
            long bytes = stats.stream().mapToLong(RoundStats::getBytesPublished).sum();
            double seconds = previousCommitMs == 0 ? 0
                : (commit.getCommittedAtMs() - previousCommitMs) / 1000.0;
            previousCommitMs = commit.getCommittedAtMs();
            byte[] sha = new byte[commit.getWeightsSha256().remaining()];
            commit.getWeightsSha256().duplicate().get(sha);
            RunSummary.Round round = new RunSummary.Round(next, trainLoss, evalLoss,
                commit.getContributors().size(), bytes, seconds, utilisation,
                HexFormat.of().formatHex(sha));
            summary.add(round);
            printRound(round);
            if (next == plan.rounds()) {
              writeOutputs(summary, weights, model);
            }
          }
        }
        finished.set(true);
        awaitWorkersExit();
      } finally {
        stop.set(true);
        optimizer.wakeup();
        optimizing.join(TimeUnit.SECONDS.toMillis(30));
      }
    }
    return summary;
  }

  /** The inner steps of the round under way, redrawn in place on a terminal. */
  private void showSteps(int round) {
    if (!interactive) {
      return;
    }
    int h = plan.spec().innerSteps();
    StringBuilder line = new StringBuilder("\r  round " + round + " inner steps:");
    steps.forEach((worker, at) -> line.append(' ').append(worker).append(' ')
        .append(at[0] == round ? at[1] : 0).append('/').append(h));
    console.print(line);
    console.flush();
  }

  private void printRound(RunSummary.Round r) {
    if (interactive) {
      console.print("\r\033[K"); // clear the progress line
    }
    int width = 20;
    int filled = plan.rounds() == 0 ? width : width * r.round() / plan.rounds();
    console.printf("[%s%s] round %d/%d  eval loss %.3f%s  contributors %d  %,d bytes sent  "
            + "%.1f s%s%n", "#".repeat(filled), ".".repeat(width - filled), r.round(),
        plan.rounds(), r.evalLoss(),
        r.trainLoss() == null ? "" : String.format("  train loss %.3f", r.trainLoss()),
        r.contributors(), r.bytesSent(), r.roundSeconds(),
        r.computeUtilisation() == null ? ""
            : String.format("  utilisation %.0f%%", 100 * r.computeUtilisation()));
  }

  private void writeOutputs(RunSummary summary, float[] weights, ByteTransformer model)
      throws IOException {
    Safetensors.write(plan.out().resolve("final-weights.safetensors"), model.layout(), weights);
    ByteTransformer sampler = new ByteTransformer(plan.spec().model(), 1, plan.spec().seed());
    sampler.setParameters(weights);
    Files.writeString(plan.out().resolve("sample.txt"), sample(sampler, 300) + "\n");
    summary.writeLossPng(plan.out().resolve("loss.png"), "DiLoCo run " + plan.spec().runId());
  }

  /** Greedy-free sampling at temperature 0.8 from a newline, deterministic by seed. */
  private String sample(ByteTransformer m, int length) {
    int t = m.config().contextLength();
    byte[] text = new byte[t + length];
    java.util.Arrays.fill(text, 0, t, (byte) ' ');
    text[t - 1] = '\n';
    SplittableRandom random = new SplittableRandom(plan.spec().seed());
    for (int i = 0; i < length; i++) {
      int[][] window = new int[1][t + 1];
      for (int j = 0; j < t; j++) {
        window[0][j] = text[i + j] & 0xff;
      }
      float[] logits = m.logits(window);
      int base = (t - 1) * 256;
      double[] p = new double[256];
      double max = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < 256; k++) {
        max = Math.max(max, logits[base + k] / 0.8);
      }
      double total = 0;
      for (int k = 0; k < 256; k++) {
        p[k] = Math.exp(logits[base + k] / 0.8 - max);
        total += p[k];
      }
      double u = random.nextDouble() * total;
      int chosen = 255;
      for (int k = 0; k < 256; k++) {
        u -= p[k];
        if (u <= 0) {
          chosen = k;
          break;
        }
      }
      text[t + i] = (byte) chosen;
    }
    return new String(text, t, length, StandardCharsets.UTF_8);
  }

  private void readReports(KafkaConsumer<byte[], byte[]> membership,
      Map<Integer, List<RoundStats>> reports, Duration wait) {
    AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);
    for (ConsumerRecord<byte[], byte[]> r : membership.poll(wait)) {
      WorkerHeartbeat h = serde.decode(r.value());
      if (h.getInnerStep() != null) {
        steps.put(h.getWorkerId(), new int[] {h.getRound(), h.getInnerStep()});
      }
      if (h.getReport() != null) {
        reports.computeIfAbsent(h.getReport().getRound(), k -> new ArrayList<>())
            .add(h.getReport());
      }
    }
  }

  private Process startWorker(int index, String bootstrap) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(List.of(java, "-Xmx1g", "-cp",
        System.getProperty("java.class.path"), Diloco.class.getName(), "worker",
        "--run", plan.spec().runId(), "--bootstrap-servers", bootstrap,
        "--worker-id", "worker-" + index, "--shard", Integer.toString(index),
        "--shards", Integer.toString(plan.workers()),
        "--until-round", Integer.toString(plan.rounds()),
        "--exit-with", Long.toString(ProcessHandle.current().pid())));
    if (plan.data() != null) {
      command.add("--data");
      command.add(plan.data().toString());
    }
    if (plan.nonIid()) {
      command.add("--non-iid");
    }
    File log = plan.out().resolve("worker-" + index + ".log").toFile();
    return new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log)).start();
  }

  /** A worker that died before the end is started again: it rejoins at the newest round. */
  private void superviseWorkers(String bootstrap) throws IOException {
    for (int w = 0; w < workers.size(); w++) {
      Process p = workers.get(w);
      if (p.isAlive() || finished.get()) {
        continue;
      }
      if (p.exitValue() == 0) {
        continue; // it trained its last round and left
      }
      if (restarts[w] >= MAX_RESTARTS) {
        throw new IllegalStateException("worker-" + w + " died " + (MAX_RESTARTS + 1)
            + " times; see " + plan.out().resolve("worker-" + w + ".log"));
      }
      restarts[w]++;
      console.printf("worker-%d stopped (exit %d); starting it again%n", w, p.exitValue());
      workers.set(w, startWorker(w, bootstrap));
    }
  }

  private void awaitWorkersExit() throws InterruptedException {
    for (Process p : workers) {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        LOG.warn("a worker did not leave within 60 s after the last round; stopping it");
        p.destroy();
      }
    }
  }

  private void killWorkers() {
    for (Process p : workers) {
      if (p.isAlive()) {
        p.destroy(); // SIGTERM: it says it leaves
      }
    }
    for (Process p : workers) {
      try {
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
          p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        p.destroyForcibly();
      }
    }
  }

  private void createTopics(RunTopics topics, KafkaClientConfig clients) throws Exception {
    try (Admin admin = Admin.create(clients.admin())) {
      try {
        admin.describeCluster().nodes().get(15, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        throw new IllegalStateException("cannot reach the Kafka cluster at "
            + clients.bootstrapServers() + " within 15 s: is it running, and reachable from "
            + "here?", e);
      }
      var existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
      var missing = topics.newTopics(plan.partitions(), (short) 1, clients).stream()
          .filter(t -> !existing.contains(t.name())).toList();
      admin.createTopics(missing).all().get(60, TimeUnit.SECONDS);
    }
  }
}
