package dev.diloco.optimizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OptimizerStateChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundFailure;
import dev.diloco.schemas.RoundOutcome;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

@Timeout(value = 240, unit = TimeUnit.SECONDS)
class OuterOptimizerIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  private static final Duration WAIT = Duration.ofSeconds(60);
  private static final WarmupCosine LR = WarmupCosine.CONSTANT;

  /** Thrown by a hook to make the optimizer die where it stands, without any clean-up. */
  private static final class Crash extends Error {
    private static final long serialVersionUID = 1L;
  }

  @Test
  void aCrashBeforeTheCommitShowsNothingAndTheRestartGivesTheSameBits() throws Exception {
    // Reference: three rounds with no crash.
    OptimizerFixture clean = new OptimizerFixture(KAFKA, "clean");
    try (var optimizer =
        new OuterOptimizer("clean", clean.clients, LR, null)) {
      optimizer.open(OptimizerFixture.description("clean"), OptimizerFixture.initialWeights());
      for (int r = 0; r < 3; r++) {
        clean.reduce(r);
        OptimizerLoop.runUntil(optimizer, r + 1, WAIT);
      }
    }

    // The same inputs, with the optimizer dying after two weights chunks of round 2.
    OptimizerFixture crashed = new OptimizerFixture(KAFKA, "crashed");
    // Rounds 0 and 1 are 5 weights chunks each: the 12th is round 2's chunk 1.
    OuterOptimizer dead = new OuterOptimizer("crashed", crashed.clients, LR, null,
        OptimizerLoop.failingAfterWeights("crashed", 12, Crash::new));
    dead.open(OptimizerFixture.description("crashed"), OptimizerFixture.initialWeights());
    crashed.reduce(0);
    OptimizerLoop.runUntil(dead, 1, WAIT);
    crashed.reduce(1);
    assertThatThrownBy(() -> OptimizerLoop.runUntil(dead, 2, WAIT)).isInstanceOf(Crash.class);

    // Its chunks of round 2 reach the log (its producer's sender still runs), but a
    // read_committed reader does not see them.
    org.awaitility.Awaitility.await().atMost(WAIT)
        .until(() -> weightsChunks(crashed, "read_uncommitted") == 2 * 5 + 2);
    assertThat(weightsChunks(crashed, "read_committed")).isEqualTo(2 * 5);

    try (var restarted = new OuterOptimizer("crashed", crashed.clients, LR, null)) {
      restarted.open(null, null); // resumes: the description and weights come from the log
      assertThat(restarted.round()).isEqualTo(1);
      OptimizerLoop.runUntil(restarted, 2, WAIT);
      crashed.reduce(2);
      OptimizerLoop.runUntil(restarted, 3, WAIT);
    } finally {
      closeQuietly(dead);
    }

    Map<Integer, String> cleanShas = commitShas(clean);
    assertThat(cleanShas).hasSize(4);
    assertThat(commitShas(crashed)).isEqualTo(cleanShas);
    assertThat(weightsChunks(crashed, "read_committed")).isEqualTo(4 * 5);
    assertThat(momentum(crashed, 3)).isEqualTo(momentum(clean, 3));
    // Every round's weights read back and check out against their commit.
    RoundLog log = new RoundLog(crashed.topics, crashed.clients, WAIT);
    RoundCommit last = log.latestCommit().orElseThrow();
    assertThat(last.getRound()).isEqualTo(3);
    assertThat(last.getOutcome()).isEqualTo(RoundOutcome.STEPPED);
    assertThat(last.getContributors()).extracting(c -> c.getWorkerId())
        .containsExactly("w0", "w1", "w2");
    assertThat(log.weights(last, OptimizerFixture.PLAN)).hasSize(77);
  }

  @Test
  void anAbortedTransactionIsAnOutcomeAndTheRoundIsPublishedAgainWithTheSameBits()
      throws Exception {
    OptimizerFixture clean = new OptimizerFixture(KAFKA, "abort-clean");
    try (var optimizer = new OuterOptimizer("abort-clean", clean.clients, LR, null)) {
      optimizer.open(OptimizerFixture.description("abort-clean"),
          OptimizerFixture.initialWeights());
      for (int r = 0; r < 3; r++) {
        clean.reduce(r);
        OptimizerLoop.runUntil(optimizer, r + 1, WAIT);
      }
    }

    // The same inputs; publishing round 2 fails once, after two of its weights chunks were sent.
    OptimizerFixture run = new OptimizerFixture(KAFKA, "aborting");
    AtomicBoolean failOnce = new AtomicBoolean(true);
    OuterOptimizer.Producers failInRound2 = OptimizerLoop.failingAfterWeights("aborting", 12,
        () -> failOnce.getAndSet(false) ? new KafkaException("injected: the broker went away")
            : null);
    List<Outcome> polled = new ArrayList<>();
    try (var optimizer = new OuterOptimizer("aborting", run.clients, LR, null, failInRound2)) {
      optimizer.open(OptimizerFixture.description("aborting"), OptimizerFixture.initialWeights());
      run.reduce(0);
      OptimizerLoop.runUntil(optimizer, 1, WAIT);
      run.reduce(1);
      org.awaitility.Awaitility.await().atMost(WAIT).until(() -> {
        polled.add(optimizer.pollOnce(Duration.ofMillis(200)));
        return optimizer.round() == 2;
      });
      run.reduce(2);
      OptimizerLoop.runUntil(optimizer, 3, WAIT);
    }

    // The abort was a value the service acted on: it went back to round 1 and read its sums
    // again, and the next try committed round 2.
    assertThat(polled).filteredOn(p -> p instanceof Outcome.Aborted).singleElement()
        .satisfies(p -> {
          Outcome.Aborted aborted = (Outcome.Aborted) p;
          assertThat(aborted.round()).isEqualTo(2);
          assertThat(aborted.cause()).hasMessageContaining("injected");
        });
    assertThat(polled).filteredOn(p -> p instanceof Outcome.Committed).singleElement()
        .satisfies(p -> assertThat(((Outcome.Committed) p).commit().getRound())
            .isEqualTo(2));
    assertThat(failOnce).isFalse();
    // Nothing of the aborted transaction is visible (its records may or may not have reached
    // the log before the abort); every round is the clean run's bits.
    assertThat(weightsChunks(run, "read_committed")).isEqualTo(4 * 5);
    assertThat(commitShas(run)).isEqualTo(commitShas(clean));
    assertThat(momentum(run, 3)).isEqualTo(momentum(clean, 3));
  }

  @Test
  void aSecondOptimizerForTheSameRunFencesTheFirst() throws Exception {
    OptimizerFixture run = new OptimizerFixture(KAFKA, "fenced");
    try (var first = new OuterOptimizer("fenced", run.clients, LR, null)) {
      first.open(OptimizerFixture.description("fenced"), OptimizerFixture.initialWeights());
      try (var second = new OuterOptimizer("fenced", run.clients, LR, null)) {
        second.open(OptimizerFixture.description("fenced"), null);
        run.reduce(0);
        // The first one's transaction of round 1 is fenced: a value, and for good.
        org.awaitility.Awaitility.await().atMost(WAIT)
            .until(() -> first.pollOnce(Duration.ofMillis(200)) instanceof Outcome.Fenced);
        assertThat(first.pollOnce(Duration.ZERO)).isInstanceOfSatisfying(Outcome.Fenced.class,
            f -> assertThat(f.message())
                .isEqualTo("another outer optimizer for run fenced has taken over; this one stops"));
        assertThat(first.round()).isZero();
        OptimizerLoop.runUntil(second, 1, WAIT);
      }
    }
    assertThat(commitShas(run)).containsOnlyKeys(0, 1); // one commit per round, no more
  }

  @Test
  void aDescriptionWrittenBeforeTheStartIsRefusedNotAdopted() throws Exception {
    OptimizerFixture run = new OptimizerFixture(KAFKA, "squatted");
    ModelDescription squatter = ModelDescription.newBuilder(OptimizerFixture.description(
        "squatted")).setCommitKey(ByteBuffer.wrap(CommitSignatures.generate().getPublic()
        .getEncoded())).build();
    try (var producer = new KafkaProducer<>(run.clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(run.topics.model(), "squatted".getBytes(
          StandardCharsets.UTF_8), AvroSerde.of(ModelDescription.class).encode(squatter))).get();
    }
    try (var optimizer = new OuterOptimizer("squatted", run.clients, LR,
        CommitSignatures.generate())) {
      assertThatThrownBy(() -> optimizer.open(OptimizerFixture.description("squatted"),
          OptimizerFixture.initialWeights()))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("run squatted already has a model description on "
              + "diloco.squatted.model but no committed round: this optimizer did not write it");
    }
    assertThat(commitShas(run)).isEmpty(); // nothing started under the squatter's key
  }

  @Test
  void badSumsGoToTheDeadLetterTopicAndTheRoundGoesOn() throws Exception {
    OptimizerFixture run = new OptimizerFixture(KAFKA, "badinput");
    AvroSerde<ReducedChunk> serde = AvroSerde.of(ReducedChunk.class);
    try (var optimizer = new OuterOptimizer("badinput", run.clients, LR, null)) {
      optimizer.open(OptimizerFixture.description("badinput"), OptimizerFixture.initialWeights());

      ReducedChunk wrongLength = run.sum(0, 1);
      wrongLength.put("elementCount", 15);
      ReducedChunk notOpen = run.sum(7, 2);
      ReducedChunk corrupt = run.sum(0, 3);
      corrupt.put("crc32c", corrupt.getCrc32c() ^ 1);
      ReducedChunk shortSum = run.sum(0, 4);
      shortSum.put("sum", ByteBuffer.wrap(new byte[8])); // with its own valid CRC
      shortSum.put("crc32c", dev.diloco.core.codec.Checksums.crc32c(new byte[8], 0, 8));
      run.sendRaw(run.topics.reduced(), List.of(serde.encode(wrongLength), serde.encode(notOpen),
          serde.encode(corrupt), serde.encode(shortSum), new byte[] {1, 2, 3}));
      run.reduce(0);
      OptimizerLoop.runUntil(optimizer, 1, WAIT);
      // The duplicates of round 0's good sums come in round 1: the round is closed.
      run.reduce(0);
      run.reduce(1);
      OptimizerLoop.runUntil(optimizer, 2, WAIT);
    }
    List<DeadLetter> letters = deadLetters(run);
    assertThat(letters).extracting(DeadLetter::getReason).containsExactly(
        DeadLetterReason.WRONG_LENGTH, DeadLetterReason.ROUND_NOT_OPEN,
        DeadLetterReason.CRC_MISMATCH, DeadLetterReason.WRONG_LENGTH,
        DeadLetterReason.MALFORMED_RECORD,
        DeadLetterReason.ROUND_NOT_OPEN, DeadLetterReason.ROUND_NOT_OPEN,
        DeadLetterReason.ROUND_NOT_OPEN, DeadLetterReason.ROUND_NOT_OPEN,
        DeadLetterReason.ROUND_NOT_OPEN);
    assertThat(letters.get(0).getDetail()).contains("[16, 31)", "[16, 32)");
    assertThat(letters.get(1).getDetail()).contains("round 7 is not open: the open round is 0");
    assertThat(letters).allSatisfy(l -> assertThat(l.getRejectedBy()).isEqualTo("outer-optimizer"));
  }

  @Test
  void aFailedRoundIsRepublishedWithTheSameWeightsAndMomentum() throws Exception {
    OptimizerFixture run = new OptimizerFixture(KAFKA, "failing");
    try (var optimizer = new OuterOptimizer("failing", run.clients, LR, null)) {
      optimizer.open(ModelDescription.newBuilder(OptimizerFixture.description("failing"))
          .setRoundTimeoutMs(1_000).build(), OptimizerFixture.initialWeights());
      run.reduce(0);
      OptimizerLoop.runUntil(optimizer, 1, WAIT);
      // Some sums of round 1 arrive, then, past the round's deadline, the reducer gives up on
      // the round (a report before the deadline would be held until it).
      long deadline = optimizer.newestCommit().getCommittedAtMs() + 1_000;
      await().atMost(WAIT).until(() -> System.currentTimeMillis() >= deadline);
      List<byte[]> partial = new ArrayList<>();
      partial.add(AvroSerde.of(ReducedChunk.class).encode(run.sum(1, 0)));
      run.sendRaw(run.topics.reduced(), partial);
      RoundFailure failure = new RoundFailure("failing", 1, "1 of 3 workers by the deadline",
          List.of("w0"), 2, 0L);
      // Each reducer task reports the failure: the round fails once.
      byte[] report = AvroSerde.of(RoundFailure.class).encode(failure);
      run.sendRaw(run.topics.roundFailures(), List.of(report, report));
      OptimizerLoop.runUntil(optimizer, 2, WAIT);
      run.reduce(2);
      OptimizerLoop.runUntil(optimizer, 3, WAIT);
    }
    // (The partial sum may be read after the report, and then is refused as of a closed round.)
    assertThat(deadLetters(run)).as("the second report is no error")
        .noneMatch(l -> l.getOriginalTopic().equals(run.topics.roundFailures()));
    RoundLog log = new RoundLog(run.topics, run.clients, WAIT);
    RoundCommit republished = log.commit(2).orElseThrow();
    assertThat(republished.getOutcome()).isEqualTo(RoundOutcome.REPUBLISHED);
    assertThat(republished.getReason()).contains("round 1 failed: 1 of 3 workers");
    assertThat(republished.getContributors()).as("a republished round has no contributors")
        .isEmpty();
    assertThat(commitShas(run).get(2)).isEqualTo(commitShas(run).get(1));
    assertThat(momentum(run, 2)).isEqualTo(momentum(run, 1));
  }

  private static long weightsChunks(OptimizerFixture run, String isolation) {
    Map<String, Object> config = run.clients.consumer(null);
    config.put("isolation.level", isolation);
    try (var consumer = new KafkaConsumer<>(config, new ByteArrayDeserializer(),
        new ByteArrayDeserializer())) {
      TopicPartition tp = new TopicPartition(run.topics.weights(), 0);
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      long end = consumer.endOffsets(List.of(tp)).get(tp);
      long count = 0;
      long deadline = System.nanoTime() + WAIT.toNanos();
      while (consumer.position(tp) < end && System.nanoTime() < deadline) {
        count += consumer.poll(Duration.ofMillis(200)).count();
      }
      return count;
    }
  }

  private static Map<Integer, String> commitShas(OptimizerFixture run) {
    Map<Integer, String> shas = new TreeMap<>();
    AvroSerde<RoundCommit> serde = AvroSerde.of(RoundCommit.class);
    new RoundLog(run.topics, run.clients, WAIT).readToEnd(
        new TopicPartition(run.topics.commits(), 0), 0, r -> {
          RoundCommit c = serde.decode(r.value());
          assertThat(shas.put(c.getRound(), HexFormat.of().formatHex(c.getWeightsSha256().array())))
              .as("round %d committed once", c.getRound()).isNull();
          return true;
        });
    return shas;
  }

  private static Map<Integer, String> momentum(OptimizerFixture run, int round) {
    Map<Integer, String> chunks = new TreeMap<>();
    AvroSerde<OptimizerStateChunk> serde = AvroSerde.of(OptimizerStateChunk.class);
    new RoundLog(run.topics, run.clients, WAIT).readToEnd(
        new TopicPartition(run.topics.optimizerState(), 0), 0, r -> {
          OptimizerStateChunk s = serde.decode(r.value());
          if (s.getRound() == round) {
            chunks.put(s.getChunkIndex(), HexFormat.of().formatHex(s.getMomentum().array()));
          }
          return true;
        });
    assertThat(chunks).hasSize(OptimizerFixture.PLAN.chunkCount());
    return chunks;
  }

  private static List<DeadLetter> deadLetters(OptimizerFixture run) {
    List<DeadLetter> letters = new ArrayList<>();
    AvroSerde<DeadLetter> serde = AvroSerde.of(DeadLetter.class);
    new RoundLog(run.topics, run.clients, WAIT).readToEnd(
        new TopicPartition(run.topics.deadLetters(), 0), 0, r -> {
          letters.add(serde.decode(r.value()));
          return true;
        });
    return letters;
  }

  private static void closeQuietly(OuterOptimizer optimizer) {
    try {
      optimizer.close();
    } catch (RuntimeException ignored) {
      // the dead instance was fenced; closing it is only to free its threads
    }
  }
}
