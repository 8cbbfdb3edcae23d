package dev.diloco.optimizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.codec.Checksums;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.DeadLetters;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/** The three ends of a round's transaction, without a broker: committed, fenced, aborted. */
class RoundPublisherTest {

  private static final RunTopics TOPICS = new RunTopics("r");
  private static final ParameterLayout LAYOUT = ParameterLayout.builder().add("w", 6).build();
  private static final ChunkPlan PLAN = LAYOUT.chunks(4); // chunks of 4 and 2 elements
  private static final ModelDescription MODEL = TestRuns.description("r", LAYOUT, 4);
  private static final float[] WEIGHTS = {1f, 2f, 3f, 4f, 5f, 6f};
  private static final Map<TopicPartition, OffsetAndMetadata> CONSUMED =
      Map.of(new TopicPartition(TOPICS.reduced(), 0), new OffsetAndMetadata(7));
  private static final ConsumerGroupMetadata GROUP = new ConsumerGroupMetadata("optimizer-r");

  private final MockProducer<byte[], byte[]> producer = new MockProducer<>(true, null,
      new ByteArraySerializer(), new ByteArraySerializer());

  private static RoundPublisher.Round round1() {
    return new RoundPublisher.Round(1, RoundOutcome.STEPPED, null, WEIGHTS, new float[6],
        List.of(), 0.7, 100, 200);
  }

  private static OuterRounds.Refusal refusal(DeadLetterReason reason) {
    return new OuterRounds.Refusal(reason, new byte[] {1}, DeadLetters.of(TOPICS.reduced(), 0,
        3, new byte[] {1}, reason, "test", DeadLetters.OPTIMIZER, 0L).build());
  }

  @Test
  void aCommittedRoundIsItsChunksItsDeadLettersItsCommitAndTheOffsetsInOneTransaction() {
    RoundPublisher publisher = new RoundPublisher(TOPICS, producer);
    Outcome outcome = publisher.publish(MODEL, false, PLAN, round1(), List.of(
        refusal(DeadLetterReason.CRC_MISMATCH), refusal(DeadLetterReason.CRC_MISMATCH),
        refusal(DeadLetterReason.RUN_MISMATCH)), CONSUMED, GROUP);

    assertThat(producer.transactionCommitted()).isTrue();
    assertThat(producer.consumerGroupOffsetsHistory()).containsExactly(
        Map.of("optimizer-r", CONSUMED));
    assertThat(producer.history()).extracting(ProducerRecord::topic).containsExactly(
        TOPICS.deadLetters(), TOPICS.deadLetters(), TOPICS.deadLetters(),
        TOPICS.weights(), TOPICS.optimizerState(), TOPICS.weights(), TOPICS.optimizerState(),
        TOPICS.commits());
    RoundCommit commit = AvroSerde.of(RoundCommit.class).decode(
        producer.history().get(7).value());
    assertThat(outcome).isEqualTo(new Outcome.Committed(commit, Map.of(
        DeadLetterReason.CRC_MISMATCH, 2, DeadLetterReason.RUN_MISMATCH, 1)));
    assertThat(commit.getRound()).isEqualTo(1);
    assertThat(commit.getChunkCount()).isEqualTo(2);
    assertThat(commit.getOuterLearningRate()).isEqualTo(0.7);
    assertThat(commit.getWeightsSha256().array()).isEqualTo(Checksums.sha256(WEIGHTS));
    assertThat(commit.getWeightsOffset()).isZero(); // the first weights record of its partition
  }

  @Test
  void aFencedTransactionIsAValueAndCommitsNothing() {
    RoundPublisher publisher = new RoundPublisher(TOPICS, producer);
    producer.fenceProducer(); // a second optimizer of the run started
    Outcome outcome = publisher.publish(MODEL, false, PLAN, round1(), List.of(), CONSUMED,
        GROUP);
    assertThat(outcome).isInstanceOfSatisfying(Outcome.Fenced.class, f -> assertThat(
        f.message()).isEqualTo("another outer optimizer for run r has taken over; this one "
        + "stops"));
    assertThat(producer.transactionCommitted()).isFalse();
    assertThat(producer.history()).isEmpty();
  }

  @Test
  void anAbortedTransactionIsAValueAndLeavesNothingCommitted() {
    RoundPublisher publisher = new RoundPublisher(TOPICS, producer);
    producer.commitTransactionException = new KafkaException("the broker went away");
    Outcome outcome = publisher.publish(MODEL, false, PLAN, round1(), List.of(), CONSUMED,
        GROUP);
    assertThat(outcome).isInstanceOfSatisfying(Outcome.Aborted.class, a -> {
      assertThat(a.round()).isEqualTo(1);
      assertThat(a.cause()).hasMessage("the broker went away");
    });
    assertThat(producer.transactionAborted()).isTrue();
    assertThat(producer.transactionCommitted()).isFalse();
    assertThat(producer.history()).as("what a read_committed reader sees").isEmpty();
  }

  @Test
  void round0GoesOutWithTheRunsDescription() {
    RoundPublisher publisher = new RoundPublisher(TOPICS, producer);
    RoundPublisher.Round round0 = new RoundPublisher.Round(0, RoundOutcome.INITIAL, null,
        WEIGHTS, new float[6], List.of(), 0, 100, 100);
    assertThat(publisher.publish(MODEL, true, PLAN, round0, List.of(), Map.of(), GROUP))
        .isInstanceOf(Outcome.Committed.class);
    assertThat(producer.history().get(0).topic()).isEqualTo(TOPICS.model());
    assertThat(producer.sentOffsets()).as("round 0 consumed nothing").isFalse();
  }
}
