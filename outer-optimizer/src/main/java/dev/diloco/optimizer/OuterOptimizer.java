package dev.diloco.optimizer;

import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.ChunkRejectedException;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.CorruptRoundException;
import dev.diloco.core.kafka.DeadLetters;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RoundLog;
import dev.diloco.core.kafka.RunAcls;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OptimizerStateChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundFailure;
import dev.diloco.schemas.RoundOutcome;
import dev.diloco.schemas.WeightsChunk;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The outer optimizer of one run: reads the reducer's sums of round r as they arrive, applies
 * the {@link OuterStep} chunk by chunk, and when every chunk is in publishes round r + 1 (its
 * weights chunks, the momentum as durable state, and the round commit) in one Kafka transaction
 * together with the offsets of the sums it consumed. So a reader sees a whole round or none, and
 * a crash at any point resumes at the last committed round with the same bits: the state is
 * rebuilt from the committed weights and momentum, and the sums of the open round are read again.
 *
 * <p>One instance acts for a run at a time: the transactional id is the run's, so a second
 * instance fences the first, whose next transaction fails with {@link FencedException}.
 */
public final class OuterOptimizer implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(OuterOptimizer.class);
  private static final String SERVICE = "outer-optimizer";

  /** Thrown when another optimizer instance for the same run has taken over. */
  public static final class FencedException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    FencedException(String runId, Throwable cause) {
      super("another outer optimizer for run " + runId + " has taken over; this one stops", cause);
    }
  }

  /** Points in publishing a round where tests make the service die. */
  public interface Hooks {
    Hooks NONE = new Hooks() {};

    /** Called after weights chunk {@code chunkIndex} of {@code round} was sent, uncommitted. */
    default void afterWeightsChunkSent(int round, int chunkIndex) {}
  }

  private final RunTopics topics;
  private final OuterSchedule schedule;
  private final Hooks hooks;
  private final KafkaProducer<byte[], byte[]> producer;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final RoundLog log;
  private final AvroSerde<ReducedChunk> reducedSerde = AvroSerde.of(ReducedChunk.class);
  private final AvroSerde<RoundFailure> failureSerde = AvroSerde.of(RoundFailure.class);
  private final AvroSerde<WeightsChunk> weightsSerde = AvroSerde.of(WeightsChunk.class);
  private final AvroSerde<OptimizerStateChunk> stateSerde = AvroSerde.of(OptimizerStateChunk.class);
  private final AvroSerde<RoundCommit> commitSerde = AvroSerde.of(RoundCommit.class);
  private final AvroSerde<ModelDescription> modelSerde = AvroSerde.of(ModelDescription.class);
  private final AvroSerde<DeadLetter> deadLetterSerde = AvroSerde.of(DeadLetter.class);

  private ModelDescription model;
  private ChunkPlan plan;
  private OuterStep step;
  private ChunkDecoder decoder;

  // The committed round and its state; and the next round's, chunk by chunk as sums arrive.
  private int round = -1;
  private float[] theta;
  private float[] momentum;
  private float[] nextTheta;
  private float[] nextMomentum;
  private double[] sum;
  private final BitSet applied = new BitSet();
  private final TreeMap<String, Contribution> contributors = new TreeMap<>();
  private final List<ProducerRecord<byte[], byte[]>> deadLetters = new ArrayList<>();
  private final Map<TopicPartition, OffsetAndMetadata> consumed = new HashMap<>();
  private long roundOpenedAtMs;
  private long lastSumAtMs;
  /** Counts reloads, so a poll stops processing a batch that a reload made stale. */
  private int reloads;

  public OuterOptimizer(String runId, KafkaClientConfig clients, OuterSchedule schedule,
      Hooks hooks) {
    this.topics = new RunTopics(runId);
    this.schedule = schedule;
    this.hooks = hooks;
    this.log = new RoundLog(topics, clients, Duration.ofSeconds(60));
    this.producer = new KafkaProducer<>(clients.transactionalProducer(RunAcls.optimizerId(runId)),
        new ByteArraySerializer(), new ByteArraySerializer());
    Map<String, Object> consumerConfig = clients.consumer(RunAcls.optimizerId(runId));
    consumerConfig.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    this.consumer = new KafkaConsumer<>(consumerConfig, new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
    try {
      // Aborts whatever a previous instance left open, and fences it.
      producer.initTransactions();
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  /**
   * Opens the run: when it has no committed round yet, publishes {@code description} and round
   * 0 with {@code initialWeights} (which may then not be null); otherwise resumes at the newest
   * committed round, after checking that {@code description}, when given, has the run's layout.
   */
  public void open(ModelDescription description, float[] initialWeights) {
    Optional<RoundCommit> latest = log.latestCommit();
    if (latest.isEmpty()) {
      if (description == null || initialWeights == null) {
        throw new IllegalStateException("run " + topics.runId() + " has not started: it has no "
            + "committed round, and starting it needs its model description and initial weights");
      }
      adopt(description);
      if (initialWeights.length != plan.totalElements()) {
        throw new IllegalArgumentException("the initial weights have " + initialWeights.length
            + " elements, the layout " + plan.totalElements());
      }
      theta = initialWeights.clone();
      momentum = new float[theta.length];
      round = -1;
      resetNext();
      publish(RoundOutcome.INITIAL, null, true);
      LOG.info("run {}: published round 0 ({} parameters in {} chunks)", topics.runId(),
          plan.totalElements(), plan.chunkCount());
    } else {
      ModelDescription published = log.model().orElseThrow(() -> new IllegalStateException(
          "run " + topics.runId() + " has commits but no model description on " + topics.model()));
      if (description != null && !description.getLayout().equals(published.getLayout())) {
        throw new IllegalStateException("run " + topics.runId() + " exists with another parameter "
            + "layout than the one given: start a new run id, or resume without a description");
      }
      adopt(published);
      resume(latest.get());
    }
    List<TopicPartition> partitions = new ArrayList<>();
    for (String topic : List.of(topics.reduced(), topics.roundFailures())) {
      var found = consumer.partitionsFor(topic, Duration.ofSeconds(30));
      if (found == null || found.isEmpty()) {
        throw new IllegalStateException("topic " + topic + " does not exist: create the run's "
            + "topics first");
      }
      found.forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
    }
    // Assigned, not subscribed: the run has one optimizer, and its offsets move only with its
    // transactions.
    consumer.assign(partitions);
    seekToCommitted();
  }

  /** Makes a blocked {@link #pollOnce} return at once (from another thread, to stop). */
  public void wakeup() {
    consumer.wakeup();
  }

  /** The newest committed round. */
  public int round() {
    return round;
  }

  /** Reads and processes what arrived within {@code timeout}; true when a round was published. */
  public boolean pollOnce(Duration timeout) {
    boolean published = false;
    int generation = reloads;
    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(timeout)) {
      if (reloads != generation) {
        break; // the consumer was sent back to the committed offsets: read them again
      }
      consumed.put(new TopicPartition(r.topic(), r.partition()),
          new OffsetAndMetadata(r.offset() + 1));
      published |= r.topic().equals(topics.reduced()) ? onSum(r) : onFailure(r);
    }
    return published;
  }

  /** Processes until round {@code target} is committed or {@code timeout} passes. */
  public void runUntil(int target, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (round < target) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("round " + target + " was not reached within " + timeout
            + "; the newest committed round is " + round);
      }
      pollOnce(Duration.ofMillis(200));
    }
  }

  private boolean onSum(ConsumerRecord<byte[], byte[]> r) {
    ReducedChunk chunk;
    try {
      chunk = reducedSerde.decode(r.value());
    } catch (SerializationException | NullPointerException e) {
      return reject(r, DeadLetterReason.MALFORMED_RECORD, e.getMessage(), null);
    }
    try {
      check(chunk);
      ChunkRange range = plan.check(chunk.getChunkIndex(), chunk.getChunkCount(),
          chunk.getElementOffset(), chunk.getElementCount());
      if (Checksums.crc32c(chunk.getSum()) != chunk.getCrc32c()) {
        throw new ChunkRejectedException(DeadLetterReason.CRC_MISMATCH, "the sum's CRC32C does "
            + "not match the one the chunk carries");
      }
      ExactSum.decode(chunk.getSumEncoding(), chunk.getSum(), range.count(), sum, 0);
      for (int i = 0; i < range.count(); i++) {
        if (!Double.isFinite(sum[i])) {
          throw new ChunkRejectedException(DeadLetterReason.NON_FINITE, "element " + i
              + " of the sum is " + sum[i]);
        }
      }
      float lr = learningRate();
      step.apply(lr, sum, 0, chunk.getContributors().size(), nextTheta, nextMomentum,
          (int) range.offset(), range.count());
    } catch (ChunkRejectedException e) {
      return reject(r, e.reason(), e.getMessage(), chunk);
    }
    applied.set(chunk.getChunkIndex());
    chunk.getContributors().forEach(c -> contributors.putIfAbsent(c.getWorkerId(), c));
    lastSumAtMs = System.currentTimeMillis();
    if (applied.cardinality() == plan.chunkCount()) {
      publish(RoundOutcome.STEPPED, null, false);
      return true;
    }
    return false;
  }

  private void check(ReducedChunk chunk) {
    if (!chunk.getRunId().equals(topics.runId())) {
      throw new ChunkRejectedException(DeadLetterReason.RUN_MISMATCH, "the sum is of run "
          + chunk.getRunId() + ", this optimizer's run is " + topics.runId());
    }
    if (chunk.getRound() != round) {
      throw new ChunkRejectedException(DeadLetterReason.ROUND_NOT_OPEN, "round "
          + chunk.getRound() + " is not open: the open round is " + round);
    }
    if (applied.get(chunk.getChunkIndex())) {
      throw new ChunkRejectedException(DeadLetterReason.DUPLICATE, "the sum of chunk "
          + chunk.getChunkIndex() + " of round " + round + " was applied already");
    }
    if (chunk.getContributors().isEmpty()) {
      throw new ChunkRejectedException(DeadLetterReason.MALFORMED_RECORD,
          "a sum with no contributors");
    }
  }

  private boolean onFailure(ConsumerRecord<byte[], byte[]> r) {
    RoundFailure failure;
    try {
      failure = failureSerde.decode(r.value());
    } catch (SerializationException | NullPointerException e) {
      return reject(r, DeadLetterReason.MALFORMED_RECORD, e.getMessage(), null);
    }
    if (!failure.getRunId().equals(topics.runId()) || failure.getRound() != round) {
      return reject(r, failure.getRunId().equals(topics.runId())
          ? DeadLetterReason.ROUND_NOT_OPEN : DeadLetterReason.RUN_MISMATCH,
          "a failure report for round " + failure.getRound() + " of run " + failure.getRunId()
              + "; the open round is " + round + " of run " + topics.runId(), null);
    }
    LOG.warn("run {}: round {} failed ({}); republishing its weights as round {}",
        topics.runId(), round, failure.getReason(), round + 1);
    resetNext();
    publish(RoundOutcome.REPUBLISHED, "round " + round + " failed: " + failure.getReason(), false);
    return true;
  }

  private boolean reject(ConsumerRecord<byte[], byte[]> r, DeadLetterReason reason,
      String detail, ReducedChunk chunk) {
    LOG.warn("run {}: rejected {}-{}@{}: {}", topics.runId(), r.topic(), r.partition(),
        r.offset(), detail);
    DeadLetter.Builder letter = DeadLetters.of(r.topic(), r.partition(), r.offset(), r.key(),
        reason, detail, SERVICE);
    if (chunk != null) {
      letter.setRunId(chunk.getRunId()).setRound(chunk.getRound())
          .setChunkIndex(chunk.getChunkIndex());
    }
    // Sent with the round's transaction, so a restart that reads the record again does not
    // reject it twice.
    deadLetters.add(new ProducerRecord<>(topics.deadLetters(), r.key(),
        deadLetterSerde.encode(letter.build())));
    return false;
  }

  /** Publishes round + 1 from the next-round state, and makes it the committed one. */
  private void publish(RoundOutcome outcome, String reason, boolean withModel) {
    int next = round + 1;
    long started = System.currentTimeMillis();
    try {
      producer.beginTransaction();
      byte[] runKey = topics.runId().getBytes(StandardCharsets.UTF_8);
      if (withModel) {
        producer.send(new ProducerRecord<>(topics.model(), runKey, modelSerde.encode(model)));
      }
      deadLetters.forEach(producer::send);
      Future<RecordMetadata> first = null;
      try (ChunkEncoder encoder = new ChunkEncoder(PayloadFormat.FP32, plan.chunkElements())) {
        for (int i = 0; i < plan.chunkCount(); i++) {
          ChunkRange range = plan.range(i);
          byte[] key = chunkKey(i);
          ChunkEncoder.Encoded w = encoder.encode(nextTheta, (int) range.offset(), range.count());
          Future<RecordMetadata> sent = producer.send(new ProducerRecord<>(topics.weights(), key,
              weightsSerde.encode(new WeightsChunk(topics.runId(), next, i, plan.chunkCount(),
                  range.offset(), range.count(), PayloadFormat.FP32.encoding(), w.payload(),
                  w.crc32c()))));
          first = first == null ? sent : first;
          hooks.afterWeightsChunkSent(next, i);
          ChunkEncoder.Encoded m = encoder.encode(nextMomentum, (int) range.offset(),
              range.count());
          producer.send(new ProducerRecord<>(topics.optimizerState(), key,
              stateSerde.encode(new OptimizerStateChunk(topics.runId(), next, i,
                  plan.chunkCount(), range.offset(), range.count(), m.payload(), m.crc32c()))));
        }
      }
      producer.flush();
      long weightsOffset = first.get().offset();
      long now = System.currentTimeMillis();
      RoundCommit commit = RoundCommit.newBuilder()
          .setRunId(topics.runId()).setRound(next)
          .setWeightsSha256(ByteBuffer.wrap(Checksums.sha256(nextTheta)))
          .setTotalElements(plan.totalElements()).setChunkCount(plan.chunkCount())
          .setWeightsOffset(weightsOffset).setOutcome(outcome).setReason(reason)
          .setContributors(new ArrayList<>(contributors.values()))
          .setOuterOptimizer(model.getOuterOptimizer())
          .setOuterLearningRate(outcome == RoundOutcome.STEPPED ? learningRate() : 0)
          .setRoundOpenedAtMs(roundOpenedAtMs == 0 ? started : roundOpenedAtMs)
          .setReductionDoneAtMs(lastSumAtMs == 0 ? started : lastSumAtMs)
          .setCommittedAtMs(now)
          .build();
      producer.send(new ProducerRecord<>(topics.commits(), runKey, commitSerde.encode(commit)));
      if (!consumed.isEmpty()) {
        producer.sendOffsetsToTransaction(new HashMap<>(consumed), consumer.groupMetadata());
      }
      producer.commitTransaction();
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      throw new FencedException(topics.runId(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      abortAndReload(e);
      return;
    } catch (ExecutionException | KafkaException e) {
      abortAndReload(e);
      return;
    }
    // Committed: the next round's state becomes the committed one.
    float[] t = theta;
    theta = nextTheta;
    nextTheta = t;
    float[] m = momentum;
    momentum = nextMomentum;
    nextMomentum = m;
    round = next;
    resetNext();
    deadLetters.clear();
    contributors.clear();
    roundOpenedAtMs = System.currentTimeMillis();
    lastSumAtMs = 0;
    LOG.info("run {}: committed round {} ({}) in {} ms", topics.runId(), round, outcome,
        roundOpenedAtMs - started);
  }

  /** After a failed transaction: back to the last committed round, as after a restart. */
  private void abortAndReload(Exception cause) {
    LOG.warn("run {}: publishing round {} failed ({}); aborting and reloading round {}",
        topics.runId(), round + 1, cause.toString(), round);
    try {
      producer.abortTransaction();
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      throw new FencedException(topics.runId(), e);
    }
    deadLetters.clear();
    contributors.clear();
    if (round < 0) {
      throw new IllegalStateException("publishing round 0 of run " + topics.runId()
          + " failed: " + cause.getMessage(), cause);
    }
    resume(log.latestCommit().orElseThrow());
    seekToCommitted();
    reloads++;
  }

  private float learningRate() {
    return schedule.learningRate((float) model.getOuterOptimizer().getLearningRate(), round);
  }

  private void adopt(ModelDescription description) {
    this.model = description;
    ParameterLayout layout = ParameterLayout.fromSpec(description.getLayout());
    this.plan = layout.chunks(description.getLayout().getChunkElements());
    var outer = description.getOuterOptimizer();
    if (outer.getAveraging() != Averaging.COUNT) {
      throw new IllegalArgumentException("outer averaging " + outer.getAveraging() + " is not "
          + "supported: the reducer's sums are unweighted, so only COUNT averages them exactly");
    }
    this.step = new OuterStep(outer.getMethod(), (float) outer.getMomentum());
    if (decoder != null) {
      decoder.close();
    }
    this.decoder = new ChunkDecoder(plan.chunkElements());
    this.sum = new double[plan.chunkElements()];
  }

  /** Loads the committed weights and momentum of {@code commit}. */
  private void resume(RoundCommit commit) {
    theta = log.weights(commit, plan);
    momentum = readMomentum(commit.getRound());
    round = commit.getRound();
    roundOpenedAtMs = commit.getCommittedAtMs();
    resetNext();
    LOG.info("run {}: resumed at round {}", topics.runId(), round);
  }

  private float[] readMomentum(int forRound) {
    float[] m = new float[theta.length];
    BitSet seen = new BitSet();
    log.readToEnd(new TopicPartition(topics.optimizerState(), 0), 0, r -> {
      if (r.value() == null) {
        return true;
      }
      OptimizerStateChunk s = stateSerde.decode(r.value());
      if (!s.getRunId().equals(topics.runId()) || s.getRound() != forRound) {
        return true;
      }
      try {
        ChunkRange range = plan.check(s.getChunkIndex(), s.getChunkCount(),
            s.getElementOffset(), s.getElementCount());
        decoder.decode(s.getMomentum(), PayloadFormat.FP32, range.count(), s.getCrc32c(), m,
            (int) range.offset());
      } catch (ChunkRejectedException e) {
        throw new CorruptRoundException(forRound, s.getChunkIndex(),
            "the optimizer's momentum chunk: " + e.getMessage());
      }
      seen.set(s.getChunkIndex());
      return true;
    });
    if (seen.cardinality() != plan.chunkCount()) {
      throw new CorruptRoundException(forRound, seen.nextClearBit(0), "the optimizer's momentum "
          + "chunk is missing from " + topics.optimizerState());
    }
    return m;
  }

  private void resetNext() {
    if (nextTheta == null || nextTheta.length != theta.length) {
      nextTheta = new float[theta.length];
      nextMomentum = new float[theta.length];
    }
    System.arraycopy(theta, 0, nextTheta, 0, theta.length);
    System.arraycopy(momentum, 0, nextMomentum, 0, momentum.length);
    applied.clear();
  }

  private void seekToCommitted() {
    consumed.clear();
    var committed = consumer.committed(consumer.assignment(), Duration.ofSeconds(30));
    for (TopicPartition tp : consumer.assignment()) {
      OffsetAndMetadata at = committed.get(tp);
      if (at == null) {
        consumer.seekToBeginning(List.of(tp));
      } else {
        consumer.seek(tp, at.offset());
      }
    }
  }

  private static byte[] chunkKey(int index) {
    return ByteBuffer.allocate(4).putInt(index).array();
  }

  @Override
  public void close() {
    try {
      consumer.close();
    } finally {
      try {
        producer.close(Duration.ofSeconds(5));
      } finally {
        if (decoder != null) {
          decoder.close();
        }
      }
    }
  }
}
