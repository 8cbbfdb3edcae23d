package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.audit.Replay;
import dev.diloco.audit.RunRecords;
import dev.diloco.audit.TopicReader;
import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.log.CommitWatcher;
import dev.diloco.core.log.CorruptRoundException;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.core.testing.Forgeries;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.optimizer.KeyFile;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.RoundCommit;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * On a cluster without ACLs anyone may write a run's commit topic. A forged round (weights and
 * a commit whose SHA-256 is theirs, of the next round and of the last round there can be) is
 * refused by the workers, who train on the optimizer's rounds alone, and named by the replay:
 * the run's commits are signed, and the forged ones do not verify.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class SignedRoundsIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  private static final ModelConfig MODEL = new ModelConfig(16, 1, 32, 4, 64);
  private static final int CHUNK = 4096;
  private static final Duration WAIT = Duration.ofSeconds(90);

  @TempDir
  Path dir;

  @Test
  void forgedRoundsAreRefusedByTheWorkersAndNamedByTheReplay() throws Exception {
    String run = "signed";
    KafkaClientConfig clients = KAFKA.clients();
    RunTopics topics = new RunTopics(run);
    Topics.create(clients, topics.newTopics(2, (short) 1, clients));
    LanguageModel model = LanguageModel.of(MODEL, 2, 1);
    ChunkPlan plan = model.layout().chunks(CHUNK);
    float[] initial = new float[(int) plan.totalElements()];
    model.parameters(initial);
    byte[] text = BuiltInCorpus.generate(1 << 16, 1);

    byte[][] forgedCommit = new byte[1][];
    RunServices.with(clients, dir, new ReducerConfig(run, 1,
            ReducerConfig.DEFAULT_CHECK_EVERY, 2),
        TestRuns.description(run, model.layout(), CHUNK, 3, 4e-4), initial,
        KeyFile.load(dir.resolve("run.key"), true), () -> {
          // Before any worker trains: a forged round 1, signed with another key, and a forged
          // last round, unsigned.
          forgedCommit[0] = Forgeries.forgeRound(clients, topics, plan, 1,
              CommitSignatures.generate());
          Forgeries.forgeRound(clients, topics, plan, Integer.MAX_VALUE, null);
          List<RoundReport> reports = new ArrayList<>();
          try (Worker w = new Worker(new WorkerSettings(run, "w0", 3,
              AdamW.Config.OPENDILOCO, PayloadFormat.FP16, 5, 1, WAIT), model, text, text,
              clients)) {
            assertThat(w.run(2, reports::add)).as("rounds trained").isEqualTo(2);
          }
          assertThat(reports).extracting(RoundReport::round).containsExactly(0, 1);
          RunServices.awaitRound(new RoundLog(topics, clients, WAIT), 2);
        });

    // What the workers saw: the optimizer's rounds only, the forged ones named when asked for.
    RoundLog log = new RoundLog(topics, clients, WAIT);
    assertThat(log.latestCommit().orElseThrow().getRound()).isEqualTo(2);
    try (CommitWatcher watcher = new CommitWatcher(topics, clients)) {
      org.awaitility.Awaitility.await().atMost(WAIT).until(() ->
          watcher.newest(Duration.ofMillis(200)).map(c -> c.getRound() == 2).orElse(false));
    }
    RoundCommit forged = AvroSerde.of(RoundCommit.class).decode(forgedCommit[0]);
    assertThatThrownBy(() -> log.weights(forged, plan))
        .isInstanceOf(CorruptRoundException.class)
        .hasMessageContaining("round 1")
        .hasMessageContaining("does not verify with run signed's key");

    // The replay verifies the optimizer's rounds and names the forged commit of round 1.
    try (TopicReader reader = new TopicReader(clients, WAIT)) {
      Replay.Report report = Replay.replay(RunRecords.read(topics, reader), reader, 0, 2,
          r -> { });
      assertThat(report.rounds()).extracting(Replay.RoundResult::ok)
          .containsExactly(true, false, true);
      assertThat(report.rounds().get(1).findings()).anySatisfy(f -> assertThat(f.detail())
          .contains("the commit of round 1 does not verify with run signed's key"));
    }
  }
}
