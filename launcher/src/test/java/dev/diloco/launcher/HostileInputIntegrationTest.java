package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.diloco.audit.Replay;
import dev.diloco.audit.RunRecords;
import dev.diloco.audit.TopicReader;
import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.DeadLetters;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RecordPlace;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.core.rules.Records;
import dev.diloco.core.rules.Verdict;
import dev.diloco.core.testing.Forgeries;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.launcher.HostileRecords.Case;
import dev.diloco.launcher.HostileRecords.DeadLettered;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WorkerHeartbeat;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.testing.RoundLength;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * An attacker with a raw producer against a live run: the optimizer, the reducer and two
 * workers, each a process at -Xmx512m, on the embedded broker. Every case of
 * {@link HostileRecords} is written while a round trains, and two forged rounds (one signed with
 * another key, one unsigned of round 2^31 − 1) besides. Then: each record got its dead letter
 * with its reason, or none where it is to be passed over; no process died or restarted; the
 * later rounds committed with both workers in every one; the workers named the forged rounds
 * when they refused them; and the replay verifies every round, naming only the forged commits.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
@ExtendWith(NoProcessLeftBehind.class)
class HostileInputIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  private static final String RUN = "hostile";
  private static final int PARTITIONS = 2;
  private static final Duration WAIT = Duration.ofSeconds(120);
  /** Rounds trained after the attack: round open + 3 (a forged chunk's) must be among them. */
  private static final int AFTER = 4;

  @TempDir
  Path dir;

  @Test
  void noRecordCrashesStallsOrPoisonsTheRunAndNoHonestWorkerIsBlamed() throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    RunTopics topics = new RunTopics(RUN);
    assertThat(Cli.run(new StringWriter(), new StringWriter(), "topics", "create", "--run", RUN,
        "--partitions", Integer.toString(PARTITIONS), "--worker", "w0", "--worker", "w1",
        "--bootstrap-servers", KAFKA.bootstrapServers())).isZero();
    Map<String, Process> services = new LinkedHashMap<>();
    int forgedRound;
    AtomicBoolean stopFlood = new AtomicBoolean();
    Thread flood = null;
    try {
      // Rounds of 1.5 s or more, so that the attack below lands while its round is
      // open: inner steps measured here (40 were 1.5 s when tiny trained 14k tokens/s a
      // thread, and about 0.5 s at 40k, when a round closed before the attack's records came).
      int innerSteps = RoundLength.innerSteps(ModelConfig.TINY, 8, Duration.ofMillis(1500), 40);
      services.put("optimizer", start("optimizer", "--start", "--model", "tiny",
          "--inner-steps", Integer.toString(innerSteps), "--chunk-elements", "65536",
          "--round-timeout", "120s",
          "--key", dir.resolve("optimizer.key").toString(), "--metrics-port", "0"));
      services.put("reducer", start("reducer", "--member-grace", "3s",
          "--state-dir", dir.resolve("reducer").toString(), "--metrics-every", "1h",
          "--metrics-port", "0"));
      RoundLog log = new RoundLog(topics, clients, WAIT);
      awaitRound(log, services, 0); // a worker needs the run's description
      milestone("round 0 committed");
      for (int w = 0; w < 2; w++) {
        services.put("w" + w, start("worker", "--worker-id", "w" + w, "--shard",
            Integer.toString(w), "--shards", "2", "--exit-with",
            Long.toString(ProcessHandle.current().pid())));
      }
      awaitRound(log, services, 1);
      int open = log.latestCommit().orElseThrow().getRound();
      forgedRound = open + 1;
      awaitTraining(log, topics, open);
      milestone("round " + open + " training");

      // The attack, while round `open` trains. The forged rounds first: the forged commit of
      // round open + 1 must come before the real one, which a round of a second or two after
      // this one's first inner step writes.
      ModelDescription run = log.model().orElseThrow();
      ChunkPlan plan = ParameterLayout.chunkPlan(run.getLayout());
      Forgeries.forgeRound(clients, topics, plan, forgedRound, CommitSignatures.generate());
      Forgeries.forgeRound(clients, topics, plan, Integer.MAX_VALUE, null);
      List<Case> table = HostileRecords.table(run, plan, PARTITIONS, open, firstSum(log, topics));
      Map<Case, RecordPlace> sent = send(clients, table);
      milestone(table.size() + " crafted records and two forged rounds sent");
      floodMemory(clients, topics, plan, open + 1);
      milestone(FLOOD_CHUNKS + " MiB of chunks and " + (FLOOD_GHOSTS + FLOOD_FAR)
          + " heartbeats flooded");
      // A worker's own heartbeats say again that it is in the round, so a forged LEAVE must be
      // repeated to hold: as the reported attack did, until the run is checked.
      flood = floodLeaves(clients, topics, "w1", open, open + AFTER, stopFlood);

      awaitRound(log, services, open + AFTER);
      milestone("round " + (open + AFTER) + " committed");
      services.forEach((name, p) -> assertThat(p.isAlive()).as(name + " is alive").isTrue());
      // The flood was refused, and said so: each chunk has one dead letter, the heartbeats
      // beyond the reducer's bounds a line in its log. A chunk's reason is its index out of
      // range while its round is open, and LATE once the round has closed: with rounds of a
      // second or two, the round can close while the reducer is still reading 300 MiB.
      await().atMost(WAIT).untilAsserted(() -> {
        List<DeadLetter> flooded = deadLetters(log, topics).values().stream()
            .flatMap(List::stream)
            .filter(l -> l.getOriginalTopic().equals(topics.workerPseudoGradients("w0"))
                && isFlood(l)).toList();
        assertThat(flooded).hasSize(FLOOD_CHUNKS).allSatisfy(l -> assertThat(l.getReason())
            .isIn(DeadLetterReason.INDEX_OUT_OF_RANGE, DeadLetterReason.LATE));
        assertThat(flooded.stream().map(DeadLetter::getOriginalOffset).distinct())
            .hasSize(FLOOD_CHUNKS);
      });
      assertThat(Files.readString(logOf("reducer")))
          .contains("passing over more than 10000 members of round " + (open + 1))
          .contains("passing over heartbeats for rounds more than 2 past the open one");

      // Each record's fate.
      Map<RecordPlace, List<DeadLetter>> letters = deadLetters(log, topics);
      for (Map.Entry<Case, RecordPlace> e : sent.entrySet()) {
        Case c = e.getKey();
        List<DeadLetter> got = letters.getOrDefault(e.getValue(), List.of());
        if (c.expect() instanceof DeadLettered want) {
          assertThat(got).as(c.name() + " on " + c.topic()).singleElement().satisfies(l -> {
            assertThat(l.getReason()).isEqualTo(want.reason());
            assertThat(l.getRejectedBy()).isEqualTo(want.by());
          });
        } else {
          assertThat(got).as(c.name() + " on " + c.topic()).isEmpty();
        }
      }
      // Every round after the attack had both workers in all of its sums.
      for (int round = open + 1; round <= open + AFTER; round++) {
        RoundCommit commit = log.commit(round).orElseThrow();
        assertThat(commit.getOutcome()).as("round %d", round).isEqualTo(RoundOutcome.STEPPED);
        assertThat(commit.getContributors()).as("round %d", round)
            .extracting(Contribution::getWorkerId).containsExactly("w0", "w1");
      }
      // Each service's dead-letter meter counts by reason what it wrote to the topic (the flood
      // stopped first: the reducer refuses some of its LEAVEs).
      stopFlood.set(true);
      flood.join(TimeUnit.SECONDS.toMillis(30));
      Map<String, String> signatures = Map.of("optimizer", DeadLetters.OPTIMIZER,
          "reducer", DeadLetters.REDUCER);
      for (Map.Entry<String, String> service : signatures.entrySet()) {
        String url = Prometheus.servedAt(logOf(service.getKey())).orElseThrow();
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
            assertThat(Prometheus.byLabel(Prometheus.get(url),
                "diloco_" + service.getKey() + "_dead_letters_total", "reason"))
                .as(service.getKey()).isNotEmpty()
                .isEqualTo(reasonsBy(service.getValue(), deadLetters(log, topics))));
      }
      // The workers refused the forged round, and said which.
      for (String worker : List.of("w0", "w1")) {
        assertThat(Files.readString(logOf(worker))).as(worker + "'s log")
            .contains("the commit of round " + (open + 1) + " does not verify with run " + RUN
                + "'s key");
      }
    } catch (Throwable t) {
      stopFlood.set(true);
      stop(services);
      services.keySet().forEach(this::printTail);
      throw t;
    } finally {
      stopFlood.set(true);
      if (flood != null) {
        flood.join(TimeUnit.SECONDS.toMillis(30));
      }
      stop(services);
    }
    // SIGTERM closed the reducer's Kafka Streams (its last work committed, its stores closed
    // with their offsets), so a restart resumes from its state instead of rebuilding it.
    assertThat(Files.readString(logOf("reducer")))
        .contains("the reducer of run " + RUN + " closed cleanly");
    for (String service : services.keySet()) {
      assertThat(Files.readString(logOf(service))).as(service + "'s log")
          .doesNotContain("OutOfMemoryError").doesNotContain("Exception in thread");
    }

    // The replay checks every round bit for bit and names only the forged commits: no chunk,
    // no worker.
    try (TopicReader reader = new TopicReader(clients, WAIT)) {
      Replay.Report report = Replay.replay(RunRecords.read(topics, reader), reader, 0, -1,
          r -> { });
      assertThat(report.rounds()).hasSizeGreaterThan(AFTER + 1);
      assertThat(report.rounds().stream().filter(r -> !r.ok()).map(Replay.RoundResult::round))
          .containsExactly(forgedRound, Integer.MAX_VALUE);
      // The forged round's weights chunks are named as what they are: not the commit's.
      assertThat(report.rounds().stream().flatMap(r -> r.findings().stream())).allSatisfy(f ->
          assertThat(f.detail()).as(f.toString()).containsAnyOf(
              "does not verify with run " + RUN + "'s key",
              "is not signed, and run " + RUN + " signs every commit", "no commit that verifies",
              "not one the round's commit names"));
    }
    milestone("replayed");
    StringWriter out = new StringWriter();
    assertThat(Cli.run(out, new StringWriter(), "inspect", "--run", RUN,
        "--bootstrap-servers", KAFKA.bootstrapServers())).isZero();
    assertThat(out.toString()).contains("rounds close 120 s after their commit")
        .contains("reads bytes (vocabulary 256)")
        .contains("WRONG_PARTITION:1").contains("NORM_BOUND_EXCEEDED:1")
        .contains("commits that do not verify with the run's key")
        .contains("round " + Integer.MAX_VALUE + " at offset");
  }

  private final long startNanos = System.nanoTime();

  private void milestone(String what) {
    System.out.printf("hostile input: %s after %.1f s%n", what,
        (System.nanoTime() - startNanos) / 1e9);
  }

  /** Until round {@code round} is committed; at once when a service has died. */
  private static void awaitRound(RoundLog log, Map<String, Process> services, int round) {
    await().atMost(WAIT.multipliedBy(2))
        .failFast("a service died", () -> services.values().stream().anyMatch(p -> !p.isAlive()))
        .until(() -> log.latestCommit().map(c -> c.getRound() >= round).orElse(false));
  }

  /** How many of {@code letters} were signed by {@code service}, by reason. */
  private static Map<String, Double> reasonsBy(String service,
      Map<RecordPlace, List<DeadLetter>> letters) {
    Map<String, Double> reasons = new TreeMap<>();
    letters.values().stream().flatMap(List::stream)
        .filter(l -> l.getRejectedBy().equals(service))
        .forEach(l -> reasons.merge(l.getReason().name(), 1.0, Double::sum));
    return reasons;
  }

  private Map<Case, RecordPlace> send(KafkaClientConfig clients, List<Case> table)
      throws Exception {
    Map<Case, RecordPlace> sent = new LinkedHashMap<>();
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      for (Case c : table) {
        var at = producer.send(new ProducerRecord<>(c.topic(), c.partition(),
            "attacker".getBytes(), c.value())).get();
        sent.put(c, new RecordPlace(at.topic(), at.partition(), at.offset()));
      }
    }
    return sent;
  }

  /** Chunks of the flood, of 1 MiB each: more than the ~250 MB that killed a -Xmx512m reducer. */
  private static final int FLOOD_CHUNKS = 300;
  /** JOINs of the next round by workers that never send: more than a round may have. */
  private static final int FLOOD_GHOSTS = 10_500;
  /** JOINs of rounds far ahead, by workers of the longest id the wire holds. */
  private static final int FLOOD_FAR = 5_000;

  /**
   * What an authenticated worker may write to its own topic and the shared membership topic
   * to fill the reducer's heap: chunks of the next round at chunk indexes past the run's, which
   * a reducer once kept whole while they waited for their round, and heartbeats it once kept
   * for ever.
   */
  private static void floodMemory(KafkaClientConfig clients, RunTopics topics, ChunkPlan plan,
      int next) {
    AvroSerde<PseudoGradientChunk> chunks = AvroSerde.of(PseudoGradientChunk.class);
    AvroSerde<WorkerHeartbeat> beats = AvroSerde.of(WorkerHeartbeat.class);
    ByteBuffer mib = ByteBuffer.wrap(new byte[1 << 20]);
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      for (int i = 0; i < FLOOD_CHUNKS; i++) {
        int index = plan.chunkCount() + i;
        producer.send(new ProducerRecord<>(topics.workerPseudoGradients("w0"), 0,
            "flood".getBytes(), chunks.encode(new PseudoGradientChunk(RUN, next, "w0", index,
                plan.chunkCount(), (long) index << 19, 1 << 19, TensorEncoding.FP16,
                Compression.NONE, false, mib.duplicate(), 0, 1, 1L, 1f, 0L))));
      }
      for (int i = 0; i < FLOOD_GHOSTS + FLOOD_FAR; i++) {
        int round = i < FLOOD_GHOSTS ? next : next + 2 + i;
        String worker = i < FLOOD_GHOSTS ? "ghost-" + i : "g".repeat(245) + i; // <= 250 bytes
        producer.send(new ProducerRecord<>(topics.membership(), worker.getBytes(),
            beats.encode(TestRuns.heartbeat(RUN, worker, round, HeartbeatKind.JOIN))));
      }
      producer.flush();
    }
  }

  /** LEAVEs of {@code worker} for rounds {@code from} to {@code to}, again and again. */
  private static Thread floodLeaves(KafkaClientConfig clients, RunTopics topics, String worker,
      int from, int to, AtomicBoolean stop) {
    AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);
    Thread t = new Thread(() -> {
      try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
          new ByteArraySerializer())) {
        while (!stop.get()) {
          for (int round = from; round <= to; round++) {
            producer.send(new ProducerRecord<>(topics.membership(), worker.getBytes(),
                serde.encode(TestRuns.heartbeat(RUN, worker, round, HeartbeatKind.LEAVE))));
          }
          producer.flush();
          // A pace, not a wait: a hundred LEAVEs a second (five rounds' every 50 ms) outrun the
          // worker's own heartbeats (one an inner step) without taking the machine's two cores
          // from the run.
          LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
        }
      }
    }, "leave-flood");
    t.start();
    return t;
  }

  /** Until both workers report inner steps of {@code round}: they, and the reducer, are in it. */
  private static void awaitTraining(RoundLog log, RunTopics topics, int round) {
    AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);
    await().atMost(WAIT).until(() -> {
      Set<String> training = new HashSet<>();
      log.readToEnd(new TopicPartition(topics.membership(), 0), 0, r -> {
        WorkerHeartbeat h = serde.decode(r.value());
        if (h.getRound() == round && h.getKind() == HeartbeatKind.ALIVE
            && h.getInnerStep() != null) {
          training.add(h.getWorkerId());
        }
        return true;
      });
      return training.size() == 2;
    });
  }

  /** The first sum the reducer wrote, to be sent again. */
  private static ReducedChunk firstSum(RoundLog log, RunTopics topics) {
    List<ReducedChunk> sums = new ArrayList<>();
    for (int p = 0; p < PARTITIONS && sums.isEmpty(); p++) {
      log.readToEnd(new TopicPartition(topics.reduced(), p), 0, r -> {
        sums.add(AvroSerde.of(ReducedChunk.class).decode(r.value()));
        return false;
      });
    }
    return sums.get(0);
  }

  private static Map<RecordPlace, List<DeadLetter>> deadLetters(RoundLog log, RunTopics topics) {
    Map<RecordPlace, List<DeadLetter>> byPlace = new HashMap<>();
    AvroSerde<DeadLetter> serde = AvroSerde.of(DeadLetter.class);
    log.readToEnd(new TopicPartition(topics.deadLetters(), 0), 0, r -> {
      // A forged one (the table's) may not decode: it is nobody's refusal.
      if (Records.decode(serde, r.value()) instanceof Verdict.Accept<DeadLetter> ok) {
        DeadLetter l = ok.value();
        byPlace.computeIfAbsent(RecordPlace.refusedBy(l), k -> new ArrayList<>()).add(l);
      }
      return true;
    });
    return byPlace;
  }

  private Process start(String command, String... args) throws IOException {
    List<String> line = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m", "-cp",
        System.getProperty("java.class.path"), Diloco.class.getName(), command, "--run", RUN,
        "--bootstrap-servers", KAFKA.bootstrapServers()));
    line.addAll(List.of(args));
    String name = command.equals("worker") ? args[1] : command;
    return new ProcessBuilder(line).redirectErrorStream(true)
        .redirectOutput(logOf(name).toFile()).start();
  }

  /** The end of a service's log, for the report of a failed test. */
  private void printTail(String service) {
    try {
      List<String> lines = Files.readAllLines(logOf(service));
      System.out.println("---- " + service + ".log, last lines ----");
      lines.subList(Math.max(0, lines.size() - 40), lines.size()).forEach(System.out::println);
    } catch (IOException e) {
      System.out.println("---- " + service + ".log cannot be read: " + e.getMessage());
    }
  }

  private static boolean isFlood(DeadLetter l) {
    return l.getOriginalKey() != null && java.nio.charset.StandardCharsets.UTF_8
        .decode(l.getOriginalKey().duplicate()).toString().equals("flood");
  }

  private Path logOf(String service) {
    return dir.resolve(service + ".log");
  }

  /** SIGTERM to each, a bounded wait, then SIGKILL to what is left. */
  private static void stop(Map<String, Process> services) throws InterruptedException {
    services.values().forEach(Process::destroy);
    for (Process p : services.values()) {
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
