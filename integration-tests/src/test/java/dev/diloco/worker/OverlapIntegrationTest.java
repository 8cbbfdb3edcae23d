package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.audit.Replay;
import dev.diloco.audit.RunRecords;
import dev.diloco.audit.TopicReader;
import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.Overlap;
import dev.diloco.worker.testing.RoundLength;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Overlapped rounds on loopback: the worker trains round r + 1 while round r's pseudo-gradient
 * and round r + 1's weights travel, and the run's log is what it is in every run.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class OverlapIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  private static final ModelConfig MODEL = new ModelConfig(16, 1, 32, 4, 64);
  private static final int BATCH = 2;
  private static final int CHUNK = 4096;
  /**
   * Inner steps: a round of about a second and a half, several times a round trip on loopback
   * (0.3-0.4 s here), so that an eager worker's next weights are there before it needs them.
   * Measured, not fixed: a fixed count went below a round trip each time the model got faster
   * (150 steps were 0.4 s, then 400 were 0.3 s).
   */
  private static final int H =
      RoundLength.innerSteps(MODEL, BATCH, Duration.ofMillis(1500), 150);
  private static final int ROUNDS = 3;
  private static final Duration WAIT = RunServices.WAIT;

  @TempDir
  Path dir;

  /**
   * With one worker its own Δ is the average, so the eager estimate of round r + 1 is round
   * r + 1 itself (the worker takes its Δ as the reducer decodes it, and steps with the
   * optimizer's momentum, which it has from the sums): the overlapped run commits the
   * synchronous run's bits, round for round, and after its first round the worker never waits.
   * A worker that dies once round 0 is out (its state directory holds round 1's start) and is
   * restarted on its directory commits the same bits too.
   */
  @Test
  void oneEagerWorkerNeverWaitsAfterItsFirstRoundAndCommitsTheSynchronousBits()
      throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    byte[] text = BuiltInCorpus.generate(1 << 14, 1);
    Map<Overlap, List<String>> hashes = new HashMap<>();
    Map<Overlap, List<RoundReport>> reports = new HashMap<>();
    for (Overlap mode : List.of(Overlap.NONE, Overlap.EAGER)) {
      String run = "one-" + mode.name().toLowerCase();
      List<RoundReport> seen = new CopyOnWriteArrayList<>();
      hashes.put(mode, train(run, mode, List.of("w0"), false, text, seen));
      reports.put(mode, seen);
    }
    List<String> restarted = train("one-eager-restarted", Overlap.EAGER, List.of("w0"), true,
        text, new CopyOnWriteArrayList<>());
    List<RoundReport> eager = reports.get(Overlap.EAGER);
    assertThat(eager).extracting(RoundReport::round).containsExactly(0, 1, 2);
    assertThat(eager.get(0).waited()).as("round 0 waits for its weights").isTrue();
    assertThat(eager.subList(1, ROUNDS)).as("rounds 1 and 2 find their weights there")
        .allSatisfy(r -> assertThat(r.waited()).isFalse());
    assertThat(hashes.get(Overlap.EAGER)).isEqualTo(hashes.get(Overlap.NONE));
    assertThat(restarted).as("restarted on its state directory").isEqualTo(
        hashes.get(Overlap.NONE));
    assertReplays("one-eager");
  }

  /**
   * Two workers: each estimate misses the other worker's Δ, so each re-bases on the committed
   * weights; both are in every round's sums and the run replays bit for bit. Each round after
   * the first starts from an estimate that takes half of the last round's offset back out,
   * which a worker restarted on its state directory knows too: two workers that die once round
   * 0 is out and go on from their directories commit the same bits.
   */
  @Test
  void twoEagerWorkersReBaseOnEveryCommitAndTheRunReplays() throws Exception {
    byte[] text = BuiltInCorpus.generate(1 << 14, 1);
    List<RoundReport> seen = new CopyOnWriteArrayList<>();
    List<String> steady = train("two-eager", Overlap.EAGER, List.of("w0", "w1"), false, text,
        seen);
    List<String> restarted = train("two-eager-restarted", Overlap.EAGER, List.of("w0", "w1"),
        true, text, new CopyOnWriteArrayList<>());
    assertThat(restarted).as("restarted on their state directories").isEqualTo(steady);
    assertThat(seen).hasSize(2 * ROUNDS);
    RoundLog log = new RoundLog(new RunTopics("two-eager"), KAFKA.clients(), WAIT);
    for (int r = 1; r <= ROUNDS; r++) {
      assertThat(log.commit(r).orElseThrow().getContributors())
          .extracting(Contribution::getWorkerId).containsOnly("w0", "w1");
    }
    assertReplays("two-eager");
  }

  /**
   * Trains {@code ROUNDS} rounds of run {@code run}; returns the commits' SHA-256s.
   * {@code restart}: each worker keeps a state directory, stops once it has published round 0,
   * and a new worker process (another model object) goes on from the directory.
   */
  private List<String> train(String run, Overlap mode, List<String> workers, boolean restart,
      byte[] text, List<RoundReport> reports) throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    LanguageModel model = LanguageModel.of(MODEL, BATCH, 1);
    float[] initial = RunServices.initialWeights(model);
    RoundLog log = new RoundLog(RunServices.createTopics(run, clients), clients, WAIT);
    ModelDescription described = ModelDescription.newBuilder(
        TestRuns.description(run, model.layout(), CHUNK)).setOverlap(mode).setInnerSteps(H)
        .build(); // the run says the H its workers take: the reducer bounds values by it
    List<String> sha = new ArrayList<>();
    RunServices.with(clients, dir, new ReducerConfig(run, workers.size(),
        Duration.ofSeconds(1), 2), described, initial, () -> {
          List<Thread> threads = new ArrayList<>();
          List<Throwable> failures = new CopyOnWriteArrayList<>();
          for (String id : workers) {
            WorkerSettings settings = new WorkerSettings(run, id, H, AdamW.Config.OPENDILOCO,
                PayloadFormat.FP16, 5, 1, WAIT, restart ? dir.resolve("state-" + run + "-" + id) : null);
            Thread t = new Thread(() -> {
              try {
                if (restart) {
                  try (Worker w = new Worker(settings, LanguageModel.of(MODEL, BATCH, 7), text,
                      text, clients)) {
                    assertThat(w.run(ROUNDS, ROUNDS, r -> w.stop())).isEqualTo(1);
                  }
                }
                try (Worker w = new Worker(settings, LanguageModel.of(MODEL, BATCH, 1), text,
                    text, clients)) {
                  assertThat(w.run(ROUNDS, ROUNDS, reports::add))
                      .isEqualTo(restart ? ROUNDS - 1 : ROUNDS);
                }
              } catch (Throwable e) {
                failures.add(e);
              }
            }, "worker-" + id);
            threads.add(t);
            t.start();
          }
          for (Thread t : threads) {
            t.join(WAIT.toMillis());
          }
          assertThat(failures).isEmpty();
          RunServices.awaitRound(log, ROUNDS);
          for (int r = 1; r <= ROUNDS; r++) {
            sha.add(HexFormat.of().formatHex(Checksums.sha256Of(log.commit(r).orElseThrow())));
          }
        });
    return sha;
  }

  private static void assertReplays(String run) throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    try (TopicReader reader = new TopicReader(clients, WAIT)) {
      Replay.Report report = Replay.replay(RunRecords.read(new RunTopics(run), reader), reader,
          0, -1, r -> { });
      assertThat(report.ok()).as(report.firstFinding().map(Object::toString).orElse(""))
          .isTrue();
      assertThat(report.rounds()).hasSize(ROUNDS + 1);
    }
  }
}
