package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.log.CorruptRoundException;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import dev.diloco.schemas.SumEncoding;
import dev.diloco.schemas.WeightsChunk;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 300, unit = TimeUnit.SECONDS)
class WorkerIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  private static final ModelConfig MODEL = new ModelConfig(16, 1, 32, 4, 64);
  private static final int BATCH = 2;
  private static final int CHUNK = 4096;
  private static final Duration WAIT = Duration.ofSeconds(90);

  @TempDir
  Path dir;

  @Test
  void aWorkerTrainsAndPublishesARoundAndALaterOneJoinsAtTheNewestRound() throws Exception {
    String run = "train";
    KafkaClientConfig clients = KAFKA.clients();
    RunTopics topics = RunServices.createTopics(run, clients);
    LanguageModel model = LanguageModel.of(MODEL, BATCH, 1);
    float[] initial = RunServices.initialWeights(model);
    byte[] text = BuiltInCorpus.generate(1 << 16, 1);

    // The run's description says what its workers do: the reducer bounds their values by it.
    RunServices.with(KAFKA.clients(), dir,
        new ReducerConfig(run, 1, Duration.ofSeconds(1), 2),
        TestRuns.description(run, model.layout(), CHUNK, TRAINING_STEPS, TRAINING_LR), initial,
        () -> {
          List<RoundReport> first = new ArrayList<>();
          try (Worker a = new Worker(training(run, "worker-a"), model, text, text, clients)) {
            assertThat(a.run(1, first::add)).isEqualTo(1);
          }
          assertThat(first).singleElement().satisfies(r -> {
            assertThat(r.round()).isZero();
            assertThat(r.bytesPublished()).isPositive();
            assertThat(r.tokensPerSecond()).isPositive();
            // An untrained byte model scores ln 256 = 5.55: its round must have taught it much.
            assertThat(r.evalLoss()).isLessThan(3.5f); // measured: 2.67
            assertThat(r.meanInnerLoss()).isLessThan(5.0f);
          });
          RoundLog log = new RoundLog(topics, clients, WAIT);
          RunServices.awaitRound(log, 1);

          List<RoundReport> later = new ArrayList<>();
          LanguageModel modelB = LanguageModel.of(MODEL, BATCH, 99); // weights come from Kafka
          try (Worker b = new Worker(settings(run, "worker-b"), modelB, text, text, clients)) {
            assertThat(b.run(1, later::add)).isEqualTo(1);
          }
          assertThat(later).singleElement().satisfies(r -> assertThat(r.round()).isEqualTo(1));
          RunServices.awaitRound(log, 2);

          // Who published what: a in round 0, b in round 1, every chunk once.
          TreeSet<String> published = new TreeSet<>();
          AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
          for (int p = 0; p < 2; p++) {
            log.readToEnd(new TopicPartition(topics.pseudoGradients(), p), 0, r -> {
              PseudoGradientChunk c = serde.decode(r.value());
              assertThat(published.add(c.getWorkerId() + "@" + c.getRound() + "#"
                  + c.getChunkIndex())).isTrue();
              return true;
            });
          }
          int chunks = model.layout().chunks(CHUNK).chunkCount();
          assertThat(published).hasSize(2 * chunks)
              .allMatch(s -> s.startsWith("worker-a@0#") || s.startsWith("worker-b@1#"));
        });
  }

  /**
   * A worker cannot read the dead letters, but it reads every commit: when one leaves out its
   * pseudo-gradient (here every chunk is beyond the reducer's bound, so the round fails and its
   * weights are published again), the worker says so and counts it.
   */
  @Test
  void aWorkerLearnsFromTheNextCommitThatItsPseudoGradientWasLeftOut() throws Exception {
    String run = "uncounted";
    KafkaClientConfig clients = KAFKA.clients();
    RunServices.createTopics(run, clients);
    LanguageModel model = LanguageModel.of(MODEL, BATCH, 1);
    float[] initial = RunServices.initialWeights(model);
    byte[] text = BuiltInCorpus.generate(1 << 14, 1);
    RunServices.with(KAFKA.clients(), dir,
        new ReducerConfig(run, 1, Duration.ofSeconds(1), 2, 1e-9),
        ModelDescription.newBuilder(TestRuns.description(run, model.layout(), CHUNK))
            .setRoundTimeoutMs(3_000).build(), initial, () -> {
          List<RoundReport> reports = new ArrayList<>();
          try (Worker w = new Worker(settings(run, "w"), model, text, text, clients)) {
            assertThat(w.run(2, reports::add)).isEqualTo(2);
            assertThat(w.uncountedRounds()).containsExactly(0);
          }
          // Round 0 read in full; round 1 is round 0 again, which the worker holds: nothing read.
          assertThat(reports.get(0).bytesReceived()).isGreaterThan(4 * initial.length);
          assertThat(reports.get(1).bytesReceived()).isZero();
          RoundCommit republished = new RoundLog(new RunTopics(run), clients, WAIT).commit(1)
              .orElseThrow();
          assertThat(republished.getOutcome()).isEqualTo(RoundOutcome.REPUBLISHED);
        });
  }

  /**
   * A worker that holds round r steps to r + 1 from round r's sums, for fewer bytes than the
   * weights and to the same bits; one whose weights differ from round r's reads the weights.
   */
  @Test
  void roundsComeFromTheSumsWhenTheyReproduceTheCommitAndInFullWhenNot() throws Exception {
    String run = "download";
    KafkaClientConfig clients = KAFKA.clients();
    RunTopics topics = RunServices.createTopics(run, clients);
    LanguageModel model = LanguageModel.of(MODEL, BATCH, 1);
    float[] initial = RunServices.initialWeights(model);
    ChunkPlan plan = model.layout().chunks(CHUNK);
    byte[] text = BuiltInCorpus.generate(1 << 14, 1);
    RunServices.with(KAFKA.clients(), dir,
        new ReducerConfig(run, 1, Duration.ofSeconds(1), 2),
        TestRuns.description(run, model.layout(), CHUNK), initial, () -> {
          forgeFarSums(topics, clients, plan); // ahead of every honest sum: passed over
          try (Worker w = new Worker(settings(run, "w"), model, text, text, clients)) {
            assertThat(w.run(2, r -> { })).isEqualTo(2);
          }
          RoundLog log = new RoundLog(topics, clients, WAIT);
          RunServices.awaitRound(log, 2);
          RoundCommit[] commits = {log.commit(0).orElseThrow(), log.commit(1).orElseThrow(),
              log.commit(2).orElseThrow()};
          float[][] weights = new float[3][];
          for (int r = 0; r < 3; r++) {
            weights[r] = log.weights(commits[r], plan);
          }
          try (RoundDownload download = new RoundDownload(topics, plan, TensorCodec.FP16, log,
              "reader", clients, WAIT)) {
            RoundDownload.Fetched first = download.fetch(commits[0], null);
            assertThat(first.fromSums()).isFalse();
            assertThat(first.weights()).containsExactly(weights[0]);
            long full = first.bytes();
            assertThat(full).isGreaterThan(4L * initial.length);

            RoundDownload.Fetched next = download.fetch(commits[1], weights[0].clone());
            assertThat(next.fromSums()).isTrue();
            assertThat(next.weights()).containsExactly(weights[1]);
            assertThat(next.bytes()).isPositive().isLessThan(full);

            float[] wrong = weights[1].clone();
            wrong[7] += 1e-3f; // not round 1's weights: stepping them cannot give round 2's
            RoundDownload.Fetched fallback = download.fetch(commits[2], wrong);
            assertThat(fallback.fromSums()).isFalse();
            assertThat(fallback.weights()).containsExactly(weights[2]);
          }
        });
  }

  /** A well-formed sum of round 2^31 - 1 on every partition of the sums topic, as forged. */
  private static void forgeFarSums(RunTopics topics, KafkaClientConfig clients, ChunkPlan plan)
      throws Exception {
    byte[] sum = new byte[8];
    ReducedChunk far = ReducedChunk.newBuilder().setRunId(topics.runId())
        .setRound(Integer.MAX_VALUE).setChunkIndex(0).setChunkCount(plan.chunkCount())
        .setElementOffset(0).setElementCount(1).setContributors(List.of())
        .setSumEncoding(SumEncoding.PACKED_BLOCKS).setSum(java.nio.ByteBuffer.wrap(sum))
        .setCrc32c(0).setComplete(true).setEmittedAtMs(0).build();
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      for (int p = 0; p < 2; p++) {
        producer.send(new ProducerRecord<>(topics.reduced(), p, null,
            AvroSerde.of(ReducedChunk.class).encode(far))).get(30, TimeUnit.SECONDS);
      }
    }
  }

  /**
   * A worker restarted on its state directory goes on to the same bits as one that never
   * stopped; restarted on an empty one, from fresh inner state, it does not.
   */
  @Test
  void aWorkerRestartedOnItsStateDirectoryGoesOnToTheSameBits() throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    LanguageModel model = LanguageModel.of(MODEL, BATCH, 1);
    float[] initial = RunServices.initialWeights(model);
    byte[] text = BuiltInCorpus.generate(1 << 14, 1);
    Map<String, List<String>> hashes = new HashMap<>();
    for (String run : List.of("steady", "restarted", "forgetful")) {
      RoundLog log = new RoundLog(RunServices.createTopics(run, clients), clients, WAIT);
      Path state = dir.resolve("state-" + run);
      RunServices.with(clients, dir,
          new ReducerConfig(run, 1, Duration.ofSeconds(1), 2),
          TestRuns.description(run, model.layout(), CHUNK), initial, () -> {
            if (run.equals("steady")) {
              try (Worker w = new Worker(settings(run, "w", state), model, text, text, clients)) {
                assertThat(w.run(3, r -> { })).isEqualTo(3);
              }
            } else { // a new process each time: a new model, its weights from the log
              try (Worker w = new Worker(settings(run, "w", state),
                  LanguageModel.of(MODEL, BATCH, 7), text, text, clients)) {
                assertThat(w.run(1, r -> { })).isEqualTo(1);
              }
              Path again = run.equals("restarted") ? state : dir.resolve("empty-" + run);
              try (Worker w = new Worker(settings(run, "w", again),
                  LanguageModel.of(MODEL, BATCH, 8), text, text, clients)) {
                assertThat(w.run(2, r -> { })).isEqualTo(2);
              }
            }
            RunServices.awaitRound(log, 3);
            List<String> sha = new ArrayList<>();
            for (int r = 1; r <= 3; r++) {
              sha.add(HexFormat.of().formatHex(Checksums.sha256Of(log.commit(r).orElseThrow())));
            }
            hashes.put(run, sha);
          });
    }
    List<String> steady = hashes.get("steady");
    assertThat(hashes.get("restarted")).as("rounds 1-3 after a restart").isEqualTo(steady);
    assertThat(hashes.get("forgetful").get(0)).as("round 1, before the restart")
        .isEqualTo(steady.get(0));
    assertThat(hashes.get("forgetful").get(1)).as("round 2, from fresh AdamW moments")
        .isNotEqualTo(steady.get(1));
  }

  /**
   * A worker that dies once its round is saved but perhaps before all of its Δ is out publishes
   * the saved Δ again when it restarts while the round is open; the reducer counts it once, and
   * the round's weights are the bits of the run where it was sent once.
   */
  @Test
  void aWorkerRestartedWhileItsRoundIsOpenSendsItAgainAndItCountsOnce() throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    LanguageModel model = LanguageModel.of(MODEL, BATCH, 1);
    float[] initial = RunServices.initialWeights(model);
    byte[] text = BuiltInCorpus.generate(1 << 14, 1);
    int chunks = model.layout().chunks(CHUNK).chunkCount();
    Map<String, RoundCommit> round1 = new HashMap<>();
    for (String run : List.of("sent-once", "sent-twice")) {
      RunTopics topics = RunServices.createTopics(run, clients);
      RoundLog log = new RoundLog(topics, clients, WAIT);
      RunServices.with(clients, dir,
          new ReducerConfig(run, 2, Duration.ofSeconds(1), 2),
          TestRuns.description(run, model.layout(), CHUNK), initial, () -> {
            Path state = dir.resolve("w0-" + run);
            try (Heartbeats w1 = new Heartbeats(topics, "w1", null, 0, clients)) {
              w1.announce(HeartbeatKind.JOIN, 0, null); // so that round 0 waits for w1
            }
            try (Worker w0 = new Worker(settings(run, "w0", state), model, text, text, clients)) {
              assertThat(w0.run(1, r -> { })).isEqualTo(1); // round 0 waits for w1
            }
            if (run.equals("sent-twice")) {
              try (Worker w0 = new Worker(settings(run, "w0", state),
                  LanguageModel.of(MODEL, BATCH, 7), text, text, clients)) {
                assertThat(w0.run(0, r -> { })).isZero(); // publishing again is no new round
              }
            }
            try (Worker w1 = new Worker(settings(run, "w1", dir.resolve("w1-" + run)),
                LanguageModel.of(MODEL, BATCH, 8), text, text, clients)) {
              assertThat(w1.run(1, r -> { })).isEqualTo(1);
            }
            RunServices.awaitRound(log, 1);
            round1.put(run, log.commit(1).orElseThrow());
            int[] w0Chunks = {0};
            AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
            for (int p = 0; p < 2; p++) {
              log.readToEnd(new TopicPartition(topics.pseudoGradients(), p), 0, r -> {
                w0Chunks[0] += serde.decode(r.value()).getWorkerId().equals("w0") ? 1 : 0;
                return true;
              });
            }
            assertThat(w0Chunks[0]).isEqualTo(run.equals("sent-twice") ? 2 * chunks : chunks);
          });
    }
    RoundCommit twice = round1.get("sent-twice");
    assertThat(twice.getContributors()).extracting(c -> c.getWorkerId())
        .containsExactly("w0", "w1");
    assertThat(Checksums.sha256Of(twice)).isEqualTo(Checksums.sha256Of(round1.get("sent-once")));
  }

  /**
   * A worker whose inner steps go non-finite (here: a learning rate whose step size is no
   * float) says where, leaves the round out and goes on: the rounds commit with the other
   * worker alone, at once (its LEAVE closes the sums), and nothing of it is published or saved.
   */
  @Test
  void aWorkerWhoseStepsGoNonFiniteLeavesTheRoundOutAndTheRunGoesOn() throws Exception {
    String run = "diverging";
    KafkaClientConfig clients = KAFKA.clients();
    RoundLog log = new RoundLog(RunServices.createTopics(run, clients), clients, WAIT);
    LanguageModel model = LanguageModel.of(MODEL, BATCH, 1);
    float[] initial = RunServices.initialWeights(model);
    byte[] text = BuiltInCorpus.generate(1 << 14, 1);
    Path wildState = dir.resolve("wild");
    RunServices.with(clients, dir,
        new ReducerConfig(run, 1, Duration.ofSeconds(1), 2),
        TestRuns.description(run, model.layout(), CHUNK), initial, () -> {
          WorkerSettings wild = new WorkerSettings(run, "wild", 3,
              AdamW.Config.OPENDILOCO.withLearningRate(1e39), PayloadFormat.FP16, 5, 1, WAIT,
              wildState);
          List<RoundReport> wildReports = new java.util.concurrent.CopyOnWriteArrayList<>();
          try (Worker steady = new Worker(settings(run, "steady"), model, text, text, clients);
              Worker w = new Worker(wild, LanguageModel.of(MODEL, BATCH, 1), text, text,
                  clients)) {
            var wildRun = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> w.run(2, 2, wildReports::add));
            assertThat(steady.run(2, 2, r -> { })).isEqualTo(2);
            assertThat(wildRun.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo(2);
          }
          assertThat(wildReports).isEmpty();
          RunServices.awaitRound(log, 2); // a worker's run ends once it published, not committed
          for (int round = 1; round <= 2; round++) {
            RoundCommit c = log.commit(round).orElseThrow();
            assertThat(c.getOutcome()).isEqualTo(RoundOutcome.STEPPED);
            assertThat(c.getContributors()).extracting(x -> x.getWorkerId())
                .containsExactly("steady");
          }
        });
    assertThat(wildState.resolve(StateDir.FILE)).doesNotExist();
  }

  @Test
  void aWorkerRefusesCorruptWeightsAndAnotherModelsLayout() throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    LanguageModel model = LanguageModel.of(MODEL, BATCH, 1);
    ParameterLayout layout = model.layout();
    ChunkPlan plan = layout.chunks(CHUNK);
    byte[] text = BuiltInCorpus.generate(1 << 14, 1);

    // A commit whose hash does not match its weights.
    RunTopics badHash = RunServices.createTopics("badhash", clients);
    publishRound0(badHash, layout, plan, clients, -1);
    try (Worker w = new Worker(settings("badhash", "w"), model, text, text, clients)) {
      assertThatThrownBy(() -> w.run(1, r -> { }))
          .isInstanceOf(CorruptRoundException.class)
          .hasMessageContaining("round 0: the weights' SHA-256 is");
    }

    // A weights chunk whose CRC does not match its payload.
    RunTopics badCrc = RunServices.createTopics("badcrc", clients);
    publishRound0(badCrc, layout, plan, clients, 1);
    try (Worker w = new Worker(settings("badcrc", "w"), model, text, text, clients)) {
      assertThatThrownBy(() -> w.run(1, r -> { }))
          .isInstanceOf(CorruptRoundException.class)
          .hasMessageContaining("round 0, chunk 1: CRC_MISMATCH");
    }

    // A run of another model.
    RunTopics other = RunServices.createTopics("othermodel", clients);
    ParameterLayout otherLayout = ParameterLayout.builder().add("w", 10, 10).build();
    publishRound0(other, otherLayout, otherLayout.chunks(CHUNK), clients, -1);
    assertThatThrownBy(() -> new Worker(settings("othermodel", "w"), model, text, text, clients))
        .hasMessageContaining("run othermodel trains a model of 100 parameters in 1 tensors")
        .hasMessageContaining("start the worker with the run's model");
  }

  /** A round long and fast enough to teach the small model the built-in corpus's structure. */
  private static WorkerSettings training(String run, String worker) {
    return new WorkerSettings(run, worker, TRAINING_STEPS,
        AdamW.Config.OPENDILOCO.withLearningRate(TRAINING_LR), PayloadFormat.FP16, 5, 1, WAIT);
  }

  private static final int TRAINING_STEPS = 40;
  private static final double TRAINING_LR = 1e-2;


  private static WorkerSettings settings(String run, String worker) {
    return settings(run, worker, null);
  }

  private static WorkerSettings settings(String run, String worker, Path state) {
    return new WorkerSettings(run, worker, 3, AdamW.Config.OPENDILOCO, PayloadFormat.FP16, 5,
        1, WAIT, state);
  }



  /**
   * Round 0 written by hand, with chunks that are not the optimizer's among its own: a
   * well-formed chunk 1 of sevens and a chunk 2 whose CRC32C lies, each ahead of the real one
   * (anyone may write the weights topic on a cluster without ACLs). The round's weights are
   * still the ones its commit's SHA-256 names, for a worker and for export alike.
   */
  @Test
  void chunksThatAreNotTheCommitsAmongARoundsWeightsArePassedOver() throws Exception {
    KafkaClientConfig clients = KAFKA.clients();
    ParameterLayout layout = ParameterLayout.builder().add("w", 10, 1000).build();
    ChunkPlan plan = layout.chunks(CHUNK); // 3 chunks
    RunTopics topics = RunServices.createTopics("forgedchunk", clients);
    byte[] key = topics.runId().getBytes(StandardCharsets.UTF_8);
    float[] weights = new float[(int) layout.totalElements()];
    java.util.Arrays.fill(weights, 0.25f);
    float[] sevens = new float[weights.length];
    java.util.Arrays.fill(sevens, 7f);
    AvroSerde<WeightsChunk> serde = AvroSerde.of(WeightsChunk.class);
    long first = -1;
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
            new ByteArraySerializer());
        var encoder = new ChunkEncoder(PayloadFormat.FP32, CHUNK)) {
      producer.send(new ProducerRecord<>(topics.model(), key, AvroSerde.of(ModelDescription.class)
          .encode(TestRuns.description(topics.runId(), layout, CHUNK)))).get();
      for (int i = 0; i < plan.chunkCount(); i++) {
        ChunkRange range = plan.range(i);
        if (i > 0) { // the forger's, first
          ChunkEncoder.Encoded f = encoder.encode(sevens, (int) range.offset(), range.count());
          producer.send(new ProducerRecord<>(topics.weights(), key, serde.encode(new WeightsChunk(
              topics.runId(), 0, i, plan.chunkCount(), range.offset(), range.count(),
              PayloadFormat.FP32.encoding(), f.payload(), i == 2 ? f.crc32c() ^ 1
              : f.crc32c())))).get();
        }
        ChunkEncoder.Encoded e = encoder.encode(weights, (int) range.offset(), range.count());
        long at = producer.send(new ProducerRecord<>(topics.weights(), key, serde.encode(
            new WeightsChunk(topics.runId(), 0, i, plan.chunkCount(), range.offset(),
                range.count(), PayloadFormat.FP32.encoding(), e.payload(), e.crc32c()))))
            .get().offset();
        first = first < 0 ? at : first;
      }
      producer.send(new ProducerRecord<>(topics.commits(), key, AvroSerde.of(RoundCommit.class)
          .encode(RoundCommit.newBuilder(TestRuns.commit(topics.runId(), 0, plan, 0L))
              .setWeightsSha256(java.nio.ByteBuffer.wrap(Checksums.sha256(weights)))
              .setWeightsOffset(first).build()))).get();
    }
    RoundLog log = new RoundLog(topics, clients, WAIT);
    assertThat(log.weights(log.commit(0).orElseThrow(), plan)).containsExactly(weights);
  }

  /** Round 0 written by hand: its commit's hash is zeros, and chunk {@code badCrc} lies. */
  private static void publishRound0(RunTopics topics, ParameterLayout layout, ChunkPlan plan,
      KafkaClientConfig clients, int badCrc) throws Exception {
    byte[] key = topics.runId().getBytes(StandardCharsets.UTF_8);
    float[] weights = new float[(int) layout.totalElements()];
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
            new ByteArraySerializer());
        var encoder = new ChunkEncoder(PayloadFormat.FP32, CHUNK)) {
      ModelDescription d = TestRuns.description(topics.runId(), layout, CHUNK);
      producer.send(new ProducerRecord<>(topics.model(), key,
          AvroSerde.of(ModelDescription.class).encode(d))).get();
      for (int i = 0; i < plan.chunkCount(); i++) {
        ChunkRange range = plan.range(i);
        ChunkEncoder.Encoded e = encoder.encode(weights, (int) range.offset(), range.count());
        producer.send(new ProducerRecord<>(topics.weights(), key, AvroSerde.of(WeightsChunk.class)
            .encode(new WeightsChunk(topics.runId(), 0, i, plan.chunkCount(), range.offset(),
                range.count(), PayloadFormat.FP32.encoding(), e.payload(),
                i == badCrc ? e.crc32c() ^ 1 : e.crc32c())))).get();
      }
      RoundCommit commit = TestRuns.commit(topics.runId(), 0, plan, System.currentTimeMillis());
      producer.send(new ProducerRecord<>(topics.commits(), key,
          AvroSerde.of(RoundCommit.class).encode(commit))).get();
    }
  }
}
