package dev.diloco.bench;

import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.log.CommitWatcher;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.round.RoundStep;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.reducer.Reducer;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.worker.ChunkPublisher;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.WakeupException;

/**
 * What a round of the pipeline costs, stage by stage, with N simulated workers' FP16
 * pseudo-gradients of P parameters (no model) through the real reducer and outer optimizer on
 * one broker: encode, publish, reduce, outer step and weights, the commit reaching the workers,
 * their reload of the weights; beside the raw produce of the same pseudo-gradient bytes and the
 * raw consume of the same weights bytes on the same broker in the same run. Round 0 warms up;
 * the figures are medians over the later rounds.
 */
final class PipelineBench {

  record Settings(int workers, int parameters, int chunkElements, int partitions, int rounds,
      List<Double> innerSeconds) {
    Settings {
      if (workers < 1 || parameters < 1 || rounds < 2) {
        throw new IllegalArgumentException("the benchmark needs >= 1 worker, >= 1 parameter and "
            + ">= 2 rounds (the first warms up), got " + workers + ", " + parameters + ", "
            + rounds);
      }
    }
  }

  /** A stage's median seconds and the bytes it moved (0: none of its own). */
  record Stage(String name, double seconds, long bytes) {}

  record Result(List<Stage> stages, double roundSeconds, double rawSeconds) {}

  private final Settings s;
  private final KafkaClientConfig clients;
  private final PrintStream console;

  PipelineBench(Settings settings, KafkaClientConfig clients, PrintStream console) {
    this.s = settings;
    this.clients = clients;
    this.console = console;
  }

  Result run(Path stateDir) throws Exception {
    SyntheticRun run = new SyntheticRun("pipeline", s.workers(), s.parameters(),
        s.chunkElements(), s.partitions(), clients);
    RunTopics topics = run.topics;
    String runId = topics.runId();
    ChunkPlan plan = run.plan;
    String rawUp = "diloco-bench-raw-up-" + runId;
    String rawDown = "diloco-bench-raw-down-" + runId;
    run.createTopics(rawUp, rawDown);
    run.announceWorkers(s.rounds());
    List<float[]> deltas = new ArrayList<>();
    for (int w = 0; w < s.workers(); w++) {
      deltas.add(run.delta(w));
    }

    double encode = encodeSeconds(deltas.get(0), plan);
    double outerStep = outerStepSeconds(plan);
    int measured = s.rounds() - 1;
    double[][] times = new double[6][measured];
    long upBytes = 0;
    ExecutorService pool = Executors.newFixedThreadPool(s.workers());
    AtomicBoolean stop = new AtomicBoolean();
    try (OuterOptimizer optimizer = new OuterOptimizer(runId, clients, WarmupCosine.CONSTANT, null);
        Reducer reducer = new Reducer(new ReducerConfig(runId, 1,
            ReducerConfig.DEFAULT_CHECK_EVERY, s.partitions()), clients, stateDir.resolve(runId),
            new SimpleMeterRegistry(), java.util.Map.of());
        CommitWatcher commits = new CommitWatcher(topics, clients)) {
      optimizer.open(run.description(),
          SyntheticRun.gaussian(new Random(-1), s.parameters(), 0.02f));
      reducer.start(Duration.ofMinutes(2));
      Thread optimizing = new Thread(() -> {
        try {
          while (!stop.get()) {
            optimizer.pollOnce(Duration.ofMillis(100));
          }
        } catch (WakeupException stopping) {
          // over
        }
      }, "outer-optimizer");
      optimizing.start();
      List<ChunkPublisher> publishers = new ArrayList<>();
      for (int w = 0; w < s.workers(); w++) {
        publishers.add(new ChunkPublisher(topics, SyntheticRun.worker(w), plan,
            PayloadFormat.FP16, s.partitions(), clients));
      }
      try {
        for (int round = 0; round < s.rounds(); round++) {
          int r = round;
          long t0 = System.nanoTime();
          List<Future<ChunkPublisher.Published>> sent = new ArrayList<>();
          for (int w = 0; w < s.workers(); w++) {
            int worker = w;
            sent.add(pool.submit(() -> publishers.get(worker).publish(r, deltas.get(worker), 1,
                1, 0f)));
          }
          long bytes = 0;
          for (Future<ChunkPublisher.Published> f : sent) {
            bytes += f.get().bytes();
          }
          long published = System.nanoTime();
          long publishedMs = System.currentTimeMillis();
          RoundCommit commit = commits.await(r + 1, Duration.ofMinutes(10)).orElseThrow(() ->
              new IllegalStateException("round " + (r + 1) + " was not committed in 10 minutes"));
          long seen = System.nanoTime();
          List<Future<float[]>> reloads = new ArrayList<>();
          for (int w = 0; w < s.workers(); w++) {
            reloads.add(pool.submit(() -> new RoundLog(topics, clients, Duration.ofMinutes(5))
                .weights(commit, plan)));
          }
          for (Future<float[]> f : reloads) {
            f.get();
          }
          long reloaded = System.nanoTime();
          console.printf("  round %d: %.2f s from the first send to the last worker's reload%n",
              r, (reloaded - t0) / 1e9);
          if (r == 0) {
            continue; // warm-up
          }
          upBytes = bytes;
          int i = r - 1;
          times[0][i] = (published - t0) / 1e9;
          times[1][i] = Math.max(0, commit.getReductionDoneAtMs() - publishedMs) / 1e3;
          times[2][i] = (commit.getCommittedAtMs() - Math.max(commit.getReductionDoneAtMs(),
              publishedMs)) / 1e3;
          times[3][i] = Math.max(0, (seen - published) / 1e9 - times[1][i] - times[2][i]);
          times[4][i] = (reloaded - seen) / 1e9;
          times[5][i] = (reloaded - t0) / 1e9;
        }
      } finally {
        stop.set(true);
        optimizer.wakeup();
        optimizing.join(TimeUnit.SECONDS.toMillis(30));
        publishers.forEach(ChunkPublisher::close);
        pool.shutdownNow();
      }
    }
    long weightsBytes = 4L * s.parameters();
    double rawProduce = rawProduce(run, rawUp);
    double rawConsume = rawConsume(rawDown, plan);
    List<Stage> stages = List.of(
        new Stage("encode FP16, one worker (standalone)", encode, 2L * s.parameters()),
        new Stage("publish, " + s.workers() + " workers at once (encode included)",
            RawKafka.median(times[0]), upBytes),
        new Stage("reduce: last ack to last sum applied", RawKafka.median(times[1]), 0),
        new Stage("outer step + publish weights, to the commit", RawKafka.median(times[2]),
            weightsBytes),
        new Stage("the commit reaching the workers", RawKafka.median(times[3]), 0),
        new Stage("reload weights, " + s.workers() + " workers at once",
            RawKafka.median(times[4]), s.workers() * weightsBytes),
        new Stage("outer step arithmetic alone (standalone)", outerStep, 0),
        new Stage("raw produce of the pseudo-gradient bytes", rawProduce, upBytes),
        new Stage("raw consume of the weights bytes x " + s.workers(), rawConsume,
            s.workers() * weightsBytes));
    return new Result(stages, RawKafka.median(times[5]), rawProduce + rawConsume);
  }

  private double encodeSeconds(float[] delta, ChunkPlan plan) {
    double[] runs = new double[3];
    try (ChunkEncoder encoder = new ChunkEncoder(PayloadFormat.FP16, plan.chunkElements())) {
      for (int k = -1; k < runs.length; k++) { // one untimed pass warms up the JIT
        long t0 = System.nanoTime();
        for (int i = 0; i < plan.chunkCount(); i++) {
          ChunkRange range = plan.range(i);
          encoder.encode(delta, (int) range.offset(), range.count());
        }
        if (k >= 0) {
          runs[k] = (System.nanoTime() - t0) / 1e9;
        }
      }
    }
    return RawKafka.median(runs);
  }

  private double outerStepSeconds(ChunkPlan plan) {
    int n = Math.toIntExact(plan.totalElements());
    double[] sum = new double[plan.chunkElements()];
    float[] theta = new float[n];
    float[] m = new float[n];
    RoundStep step = RoundStep.of(OuterStep.dilocoConfig(), OuterStep.DILOCO_LEARNING_RATE);
    double[] runs = new double[3];
    for (int k = -1; k < runs.length; k++) {
      long t0 = System.nanoTime();
      for (int i = 0; i < plan.chunkCount(); i++) {
        step.apply(plan.range(i), sum, s.workers(), theta, m);
      }
      if (k >= 0) {
        runs[k] = (System.nanoTime() - t0) / 1e9;
      }
    }
    return RawKafka.median(runs);
  }

  /** The workers' chunk records, to a plain topic: median of three passes after a warm one. */
  private double rawProduce(SyntheticRun run, String raw) {
    var records = run.chunkRecords(0).stream()
        .map(r -> new ProducerRecord<>(raw, r.partition(), r.key(), r.value())).toList();
    double[] runs = new double[3];
    RawKafka.produce(records, clients);
    for (int k = 0; k < runs.length; k++) {
      runs[k] = RawKafka.produce(records, clients);
    }
    return RawKafka.median(runs);
  }

  /** N copies of the weights' FP32 bytes in chunk-sized records, read by one consumer. */
  private double rawConsume(String raw, ChunkPlan plan) {
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int w = 0; w < s.workers(); w++) {
      for (int i = 0; i < plan.chunkCount(); i++) {
        records.add(new ProducerRecord<>(raw, 0, null, new byte[4 * plan.range(i).count()]));
      }
    }
    RawKafka.produce(records, clients);
    RawKafka.readToEnd(raw, 1, clients); // warm
    double[] runs = new double[3];
    for (int k = 0; k < runs.length; k++) {
      long t0 = System.nanoTime();
      RawKafka.readToEnd(raw, 1, clients);
      runs[k] = (System.nanoTime() - t0) / 1e9;
    }
    return RawKafka.median(runs);
  }

  /** The result as a Markdown table, with the ratio to raw and the compute utilisation. */
  String markdown(Result r) {
    StringBuilder md = new StringBuilder();
    md.append(String.format("%d workers, %,d parameters (FP16 pseudo-gradients, FP32 weights), "
        + "%d chunks of %,d elements, %d partitions; medians over %d rounds after a warm-up "
        + "round.%n%n", s.workers(), s.parameters(), (s.parameters() + s.chunkElements() - 1)
        / s.chunkElements(), s.chunkElements(), s.partitions(), s.rounds() - 1));
    md.append("| stage | seconds | MB | MB/s |\n|---|---|---|---|\n");
    for (Stage st : r.stages()) {
      md.append(String.format("| %s | %.3f | %s | %s |%n", st.name(), st.seconds(),
          st.bytes() == 0 ? "-" : String.format("%.1f", st.bytes() / 1e6),
          st.bytes() == 0 ? "-" : String.format("%.0f", st.bytes() / 1e6 / st.seconds())));
    }
    md.append(String.format("| **round, first send to last reload** | **%.3f** | | |%n",
        r.roundSeconds()));
    md.append(String.format("| raw produce + raw consume of the same bytes | %.3f | | |%n%n",
        r.rawSeconds()));
    md.append(String.format("Round overhead: %.2f x the raw Kafka time of the same bytes.%n%n",
        r.roundSeconds() / r.rawSeconds()));
    md.append("| inner phase (s) | compute utilisation (round blocks the workers) |\n|---|---|\n");
    for (double inner : s.innerSeconds()) {
      md.append(String.format("| %.0f | %.1f%% |%n", inner,
          100 * inner / (inner + r.roundSeconds())));
    }
    return md.toString();
  }
}
