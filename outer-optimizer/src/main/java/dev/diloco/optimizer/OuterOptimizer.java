package dev.diloco.optimizer;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.DeadLetters;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RoundLog;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.rules.CheckedSum;
import dev.diloco.core.rules.Records;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundFailure;
import dev.diloco.schemas.RoundOutcome;
import java.nio.ByteBuffer;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The outer optimizer of one run, as a service: reads the reducer's sums of round r as they
 * arrive, offers each to the next round ({@link RoundState}: the sums {@code RoundSums} takes,
 * as the worker and the replay do, stepped by {@code RoundStep}), and when every chunk is in publishes round r + 1 in one transaction
 * with the offsets of the sums it consumed ({@link RoundPublisher}). A crash at any point
 * resumes at the last committed round with the same bits: the state is rebuilt from the
 * committed weights and momentum, and the sums of the open round are read again. So is a
 * transaction that aborted.
 *
 * <p>One instance acts for a run at a time: a second one fences the first, whose next
 * transaction is {@code Fenced} and which then throws {@link FencedException} and stops.
 */
public final class OuterOptimizer implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(OuterOptimizer.class);
  private static final String SERVICE = DeadLetters.OPTIMIZER;

  /** Thrown when another optimizer instance for the same run has taken over. */
  public static final class FencedException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    FencedException(String runId, Throwable cause) {
      super("another outer optimizer for run " + runId + " has taken over; this one stops", cause);
    }
  }

  /** Points in publishing a round where tests make the service fail or die. */
  public interface Hooks {
    Hooks NONE = new Hooks() {};

    /** Called after weights chunk {@code chunkIndex} of {@code round} was sent, uncommitted. */
    default void afterWeightsChunkSent(int round, int chunkIndex) {}
  }

  /** What one poll did: nothing to publish, or the outcome of the round it published. */
  public sealed interface Polled permits Nothing, Published, Aborted {}

  /** No round was completed. */
  public record Nothing() implements Polled {}

  /**
   * Round {@code commit} was published, with {@code deadLetters}: how many records of each
   * reason the optimizer refused in the same transaction (empty for most rounds).
   */
  public record Published(RoundCommit commit, Map<DeadLetterReason, Integer> deadLetters)
      implements Polled {
    public Published {
      deadLetters = Map.copyOf(deadLetters);
    }
  }

  /**
   * Publishing round {@code round} aborted ({@code cause}): the optimizer went back to the last
   * committed round and reads its sums again.
   */
  public record Aborted(int round, Exception cause) implements Polled {}

  /** A dead letter waiting for the next round's transaction, and why it was written. */
  private record Refusal(DeadLetterReason reason, ProducerRecord<byte[], byte[]> letter) {}

  private final RunTopics topics;
  private final WarmupCosine schedule;
  private final KeyPair key;
  private final RoundPublisher publisher;
  private final SumsConsumer sums;
  private final RoundLog log;
  private final AvroSerde<ReducedChunk> reducedSerde = AvroSerde.of(ReducedChunk.class);
  private final AvroSerde<RoundFailure> failureSerde = AvroSerde.of(RoundFailure.class);
  private final AvroSerde<DeadLetter> deadLetterSerde = AvroSerde.of(DeadLetter.class);

  private ModelDescription model;
  private ChunkPlan plan;
  private RoundState state;
  private final List<Refusal> refusals = new ArrayList<>();
  private RoundCommit newest;
  private long roundOpenedAtMs;
  private long lastSumAtMs;
  /** The round last republished for a failure report: every reducer task reports it. */
  private int republishedFor = -1;

  /** An optimizer of an unsigned run. */
  public OuterOptimizer(String runId, KafkaClientConfig clients, WarmupCosine schedule,
      Hooks hooks) {
    this(runId, clients, schedule, hooks, null);
  }

  /**
   * {@code schedule}: the outer learning rate by round, as a factor of the run's;
   * {@code key}: the key that signs the run's commits (a run it starts carries its public key
   * in its description; a signed run it resumes must have been started with it), or null for
   * an unsigned run.
   */
  public OuterOptimizer(String runId, KafkaClientConfig clients, WarmupCosine schedule,
      Hooks hooks, KeyPair key) {
    this.topics = new RunTopics(runId);
    this.key = key;
    this.schedule = schedule;
    this.log = new RoundLog(topics, clients, Duration.ofSeconds(60));
    this.sums = new SumsConsumer(topics, clients);
    try {
      this.publisher = new RoundPublisher(topics, clients, hooks);
    } catch (RuntimeException e) {
      sums.close();
      throw e;
    }
  }

  /**
   * Opens the run: when it has no committed round yet, publishes {@code description} and round
   * 0 with {@code initialWeights} (which may then not be null); otherwise resumes at the newest
   * committed round, after checking that {@code description}, when given, has the run's layout.
   * Returns round 0 as {@link Published} when it started the run, {@link Nothing} when it
   * resumed it.
   */
  public Polled open(ModelDescription description, float[] initialWeights) {
    Optional<RoundCommit> latest = log.latestCommit();
    if (latest.isEmpty()) {
      if (description == null || initialWeights == null) {
        throw new IllegalStateException("run " + topics.runId() + " has not started: it has no "
            + "committed round, and starting it needs its model description and initial weights");
      }
      adopt(key == null ? description : ModelDescription.newBuilder(description)
          .setCommitKey(ByteBuffer.wrap(key.getPublic().getEncoded())).build());
      publisher.signWith(key == null ? null : key.getPrivate());
      if (initialWeights.length != plan.totalElements()) {
        throw new IllegalArgumentException("the initial weights have " + initialWeights.length
            + " elements, the layout " + plan.totalElements());
      }
      Published first = start(initialWeights);
      sums.assign();
      return first;
    } else {
      ModelDescription published = log.model().orElseThrow(() -> new IllegalStateException(
          "run " + topics.runId() + " has commits but no model description on " + topics.model()));
      if (description != null && !description.getLayout().equals(published.getLayout())) {
        throw new IllegalStateException("run " + topics.runId() + " exists with another parameter "
            + "layout than the one given: start a new run id, or resume without a description");
      }
      adopt(published);
      publisher.signWith(signerFor(published));
      resume(latest.get());
    }
    sums.assign();
    return new Nothing();
  }

  /** Makes a blocked {@link #pollOnce} return at once (from another thread, to stop). */
  public void wakeup() {
    sums.wakeup();
  }

  /** The newest committed round. */
  public int round() {
    return state == null ? -1 : state.round();
  }

  /** The newest committed round's commit, once {@link #open}ed. */
  public RoundCommit newestCommit() {
    return newest;
  }

  /** Reads and processes what arrived within {@code timeout}. */
  public Polled pollOnce(Duration timeout) {
    Polled polled = new Nothing();
    for (ConsumerRecord<byte[], byte[]> r : sums.poll(timeout)) {
      sums.consumed(r);
      Polled now = r.topic().equals(topics.reduced()) ? onSum(r) : onFailure(r);
      if (now instanceof Aborted) {
        return now; // the consumer went back to the committed offsets: this batch is stale
      }
      if (now instanceof Published) {
        polled = now;
      }
    }
    return polled;
  }

  /** Processes until round {@code target} is committed or {@code timeout} passes. */
  public void runUntil(int target, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (round() < target) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("round " + target + " was not reached within " + timeout
            + "; the newest committed round is " + round());
      }
      pollOnce(Duration.ofMillis(200));
    }
  }

  private Polled onSum(ConsumerRecord<byte[], byte[]> r) {
    Verdict<ReducedChunk> decoded = Records.decode(reducedSerde, r.value());
    if (decoded instanceof Verdict.Reject<ReducedChunk> bad) {
      reject(r, bad, null);
      return new Nothing();
    }
    RoundState.Offered offered = state.offer(decoded.value());
    if (offered.verdict() instanceof Verdict.Reject<CheckedSum> bad) {
      reject(r, bad, decoded.value());
      return new Nothing();
    }
    Optional<String> cannotStep = offered.cannotStep();
    lastSumAtMs = System.currentTimeMillis();
    if (cannotStep.isPresent()) {
      // Never publish non-finite weights: the round fails, and its weights are published again.
      LOG.warn("run {}: round {} failed: {}", topics.runId(), state.round(), cannotStep.get());
      state.rollback();
      return publish(RoundOutcome.REPUBLISHED, "round " + state.round() + " failed: "
          + cannotStep.get(), false);
    }
    return state.complete() ? publish(RoundOutcome.STEPPED, null, false) : new Nothing();
  }

  private Polled onFailure(ConsumerRecord<byte[], byte[]> r) {
    Verdict<RoundFailure> decoded = Records.decode(failureSerde, r.value());
    if (decoded instanceof Verdict.Reject<RoundFailure> bad) {
      reject(r, bad, null);
      return new Nothing();
    }
    RoundFailure failure = decoded.value();
    if (failure.getRunId().equals(topics.runId()) && failure.getRound() == republishedFor) {
      LOG.debug("run {}: another report of round {}'s failure", topics.runId(), republishedFor);
      return new Nothing();
    }
    if (!failure.getRunId().equals(topics.runId()) || failure.getRound() != state.round()) {
      reject(r, new Verdict.Reject<>(failure.getRunId().equals(topics.runId())
          ? DeadLetterReason.ROUND_NOT_OPEN : DeadLetterReason.RUN_MISMATCH,
          "a failure report for round " + failure.getRound() + " of run " + failure.getRunId()
              + "; the open round is " + state.round() + " of run " + topics.runId()), null);
      return new Nothing();
    }
    LOG.warn("run {}: round {} failed ({}); republishing its weights as round {}",
        topics.runId(), state.round(), failure.getReason(), state.round() + 1);
    state.rollback();
    int failed = state.round();
    Polled published = publish(RoundOutcome.REPUBLISHED, "round " + failed + " failed: "
        + failure.getReason(), false);
    if (published instanceof Published) {
      republishedFor = failed;
    }
    return published;
  }

  private void reject(ConsumerRecord<byte[], byte[]> r, Verdict.Reject<?> verdict,
      ReducedChunk sum) {
    LOG.warn("run {}: rejected {}-{}@{}: {}", topics.runId(), r.topic(), r.partition(),
        r.offset(), verdict.message());
    DeadLetter.Builder letter = DeadLetters.of(r.topic(), r.partition(), r.offset(), r.key(),
        verdict.reason(), verdict.message(), SERVICE);
    if (sum != null) {
      letter.setRunId(sum.getRunId()).setRound(sum.getRound()).setChunkIndex(sum.getChunkIndex());
    }
    // Sent with the round's transaction, so a restart that reads the record again does not
    // reject it twice.
    refusals.add(new Refusal(verdict.reason(), new ProducerRecord<>(topics.deadLetters(),
        r.key(), deadLetterSerde.encode(letter.build()))));
  }

  /** Round 0: the description and the initial weights, with zero momentum. */
  private Published start(float[] initialWeights) {
    state = RoundState.beforeRound0(topics.runId(), plan,
        OuterStep.of(model.getOuterOptimizer()), schedule,
        (float) model.getOuterOptimizer().getLearningRate(), initialWeights);
    Polled first = publish(RoundOutcome.INITIAL, null, true);
    if (first instanceof Aborted failed) {
      throw new IllegalStateException("publishing round 0 of run " + topics.runId()
          + " failed: " + failed.cause().getMessage(), failed.cause());
    }
    LOG.info("run {}: published round 0 ({} parameters in {} chunks)", topics.runId(),
        plan.totalElements(), plan.chunkCount());
    return (Published) first;
  }

  /** Publishes the next round as the state has it, and makes it the committed one. */
  private Polled publish(RoundOutcome outcome, String reason, boolean withModel) {
    int next = state.round() + 1;
    long started = System.currentTimeMillis();
    RoundPublisher.Round round = new RoundPublisher.Round(next, outcome, reason,
        state.nextWeights(), state.nextMomentum(), state.contributors(),
        outcome == RoundOutcome.STEPPED ? state.learningRate() : 0,
        roundOpenedAtMs == 0 ? started : roundOpenedAtMs,
        lastSumAtMs == 0 ? started : lastSumAtMs);
    RoundPublisher.Result result = publisher.publish(model, withModel, state.plan(), round,
        refusals.stream().map(Refusal::letter).toList(), sums.consumed(), sums.group());
    Map<DeadLetterReason, Integer> refused = refusals.stream().collect(Collectors.groupingBy(
        Refusal::reason, () -> new EnumMap<>(DeadLetterReason.class),
        Collectors.summingInt(x -> 1)));
    // Out with this transaction, or (aborted) read again with the records they refuse.
    refusals.clear();
    if (result instanceof RoundPublisher.Fenced fenced) {
      throw new FencedException(topics.runId(), fenced.cause());
    }
    if (result instanceof RoundPublisher.Aborted aborted) {
      LOG.warn("run {}: publishing round {} aborted ({}); back to round {}", topics.runId(),
          next, aborted.cause().toString(), state.round());
      if (state.round() >= 0) {
        resume(log.latestCommit().orElseThrow());
        sums.seekToCommitted();
      }
      return new Aborted(next, aborted.cause());
    }
    state.commit();
    roundOpenedAtMs = System.currentTimeMillis();
    lastSumAtMs = 0;
    LOG.info("run {}: committed round {} ({}) in {} ms", topics.runId(), next, outcome,
        roundOpenedAtMs - started);
    newest = ((RoundPublisher.Committed) result).commit();
    return new Published(newest, refused);
  }

  /** The key to sign a run's commits with: the run's own, which this optimizer must hold. */
  private java.security.PrivateKey signerFor(ModelDescription run) {
    if (run.getCommitKey() == null) {
      if (key != null) {
        LOG.warn("run {} was started unsigned: its commits stay unsigned", topics.runId());
      }
      return null;
    }
    if (key == null || !ByteBuffer.wrap(key.getPublic().getEncoded()).equals(run.getCommitKey())) {
      throw new IllegalStateException("run " + topics.runId() + " signs its commits with a key "
          + (key == null ? "this optimizer was not given" : "other than this optimizer's")
          + ": resume it with the key it was started with (diloco optimizer --key FILE)");
    }
    return key.getPrivate();
  }

  private void adopt(ModelDescription description) {
    var outer = description.getOuterOptimizer();
    if (outer.getAveraging() != Averaging.COUNT) {
      throw new IllegalArgumentException("outer averaging " + outer.getAveraging() + " is not "
          + "supported: the reducer's sums are unweighted, so only COUNT averages them exactly");
    }
    OuterStep.of(outer); // refuses settings that cannot step, at the start
    this.model = description;
    this.plan = ParameterLayout.chunkPlan(description.getLayout());
  }

  /** Loads the committed weights and momentum of {@code commit}: the state after a restart. */
  private void resume(RoundCommit commit) {
    state = new RoundState(topics.runId(), plan, OuterStep.of(model.getOuterOptimizer()),
        schedule,
        (float) model.getOuterOptimizer().getLearningRate(), commit.getRound(),
        log.weights(commit, plan), log.momentum(commit.getRound(), plan));
    refusals.clear();
    newest = commit;
    roundOpenedAtMs = commit.getCommittedAtMs();
    LOG.info("run {}: resumed at round {}", topics.runId(), commit.getRound());
  }

  @Override
  public void close() {
    try {
      sums.close();
    } finally {
      publisher.close();
    }
  }
}
