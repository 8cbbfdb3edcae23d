package dev.diloco.optimizer;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.DeadLetters;
import dev.diloco.core.kafka.RecordPlace;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.rules.NormBound;
import dev.diloco.core.rules.Records;
import dev.diloco.core.rules.RoundDeadline;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundFailure;
import dev.diloco.schemas.RoundOutcome;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The outer optimizer's decisions, with no client of Kafka (as torchft keeps DiLoCo's round
 * apart from its transport): it is handed the records it reads, one at a time, and says what
 * to do. A sum is offered to the open round ({@link RoundState}); one the round refuses, and
 * any record that is not one, becomes a dead letter with its reason, held for the round's
 * transaction; when every chunk's sum is in, the answer is {@link Publish} (STEPPED). A round
 * whose step would make a weight non-finite, or a reducer's report that the open round failed,
 * is {@link Publish} (REPUBLISHED: the committed weights again). A failure report is taken
 * only once the round's deadline has passed ({@link RoundDeadline}, the run's own): one that
 * comes earlier, which the reducer never writes, is held until then ({@link #onClock}). The
 * service publishes what {@link #next} gives and tells the outcome back ({@link #committed},
 * {@link #resume}).
 */
final class OuterRounds {

  private static final Logger LOG = LoggerFactory.getLogger(OuterRounds.class);
  /**
   * How long a failure report held past the round's deadline waits more: at the deadline the
   * reducer also sends the sums that have a quorum, and those, when they complete the round,
   * step it; an early report (forged) must not win that race.
   */
  static final Duration HELD_PAST_DEADLINE = Duration.ofSeconds(10);

  /** What to do after a record. */
  sealed interface Decision permits Wait, Publish {}

  /** Nothing yet: the round is not complete. */
  record Wait() implements Decision {}

  /**
   * Publish the next round with {@code outcome} and {@code reason}; {@code failedRound} is the
   * round a reducer's failure report is about (-1: none), so that its other reports are
   * passed over once it is published.
   */
  record Publish(RoundOutcome outcome, String reason, int failedRound) implements Decision {}

  /** A dead letter for the next round's transaction, with its key. */
  record Refusal(DeadLetterReason reason, byte[] key, DeadLetter letter) {}

  private final String runId;
  private final ModelDescription model;
  private final ChunkPlan plan;
  private final WarmupCosine schedule;
  private final RoundDeadline deadline;
  private final LongSupplier clock;
  private final AvroSerde<ReducedChunk> sumSerde = AvroSerde.of(ReducedChunk.class);
  private final AvroSerde<RoundFailure> failureSerde = AvroSerde.of(RoundFailure.class);
  private final List<Refusal> refusals = new ArrayList<>();
  private RoundState state;
  private long roundOpenedAtMs;
  private long lastSumAtMs;
  /** The round last republished for a failure report: every reducer task reports it. */
  private int republishedFor = -1;
  /** A report that the open round failed, come before its deadline; null: none. */
  private RoundFailure held;

  /**
   * The decisions for run {@code model}, stepping at its outer learning rate times
   * {@code schedule}, with {@code clock} for the commit's times; refuses settings it cannot
   * step with, naming them.
   */
  OuterRounds(ModelDescription model, WarmupCosine schedule, LongSupplier clock) {
    var outer = model.getOuterOptimizer();
    if (outer.getAveraging() != Averaging.COUNT) {
      throw new IllegalArgumentException("outer averaging " + outer.getAveraging() + " is not "
          + "supported: the reducer's sums are unweighted, so only COUNT averages them exactly");
    }
    OuterStep.of(outer); // refuses settings that cannot step, at the start
    this.runId = model.getRunId();
    this.model = model;
    this.plan = ParameterLayout.chunkPlan(model.getLayout());
    this.schedule = schedule;
    this.deadline = RoundDeadline.of(model);
    this.clock = clock;
  }

  ModelDescription model() {
    return model;
  }

  ChunkPlan plan() {
    return plan;
  }

  /** The committed round (-1 before round 0). */
  int round() {
    return state == null ? -1 : state.round();
  }

  /** A run to start: round 0 is {@code initialWeights} with zero momentum, to publish now. */
  Publish start(float[] initialWeights) {
    if (initialWeights.length != plan.totalElements()) {
      throw new IllegalArgumentException("the initial weights have " + initialWeights.length
          + " elements, the layout " + plan.totalElements());
    }
    state = RoundState.beforeRound0(runId, plan, NormBound.of(model), step(), schedule,
        peakRate(), initialWeights);
    return new Publish(RoundOutcome.INITIAL, null, -1);
  }

  /** Goes on from committed round {@code commit}, its weights and momentum (a restart). */
  void resume(RoundCommit commit, float[] weights, float[] momentum) {
    state = new RoundState(runId, plan, NormBound.of(model), step(), schedule, peakRate(),
        commit.getRound(), weights, momentum);
    refusals.clear();
    held = null;
    roundOpenedAtMs = commit.getCommittedAtMs();
    lastSumAtMs = 0;
  }

  /** Takes a record of the sums topic, read at {@code at} with {@code key}. */
  Decision onSum(RecordPlace at, byte[] key, byte[] value) {
    Verdict<ReducedChunk> decoded = Records.decode(sumSerde, value);
    if (decoded instanceof Verdict.Reject<ReducedChunk> bad) {
      return refuse(at, key, bad, null);
    }
    RoundState.Offered offered = state.offer(decoded.value());
    if (offered instanceof RoundState.Refused refused) {
      return refuse(at, key, refused.why(), decoded.value());
    }
    lastSumAtMs = clock.getAsLong();
    if (offered instanceof RoundState.Unsteppable cannot) {
      // Never publish non-finite weights: the round fails, and its weights are published again.
      LOG.warn("run {}: round {} failed: {}", runId, state.round(), cannot.why());
      state.rollback();
      return new Publish(RoundOutcome.REPUBLISHED, "round " + state.round() + " failed: "
          + cannot.why(), -1);
    }
    return state.complete() ? new Publish(RoundOutcome.STEPPED, null, -1) : new Wait();
  }

  /** Takes a record of the round-failures topic, read at {@code at} with {@code key}. */
  Decision onFailure(RecordPlace at, byte[] key, byte[] value) {
    Verdict<RoundFailure> decoded = Records.decode(failureSerde, value);
    if (decoded instanceof Verdict.Reject<RoundFailure> bad) {
      return refuse(at, key, bad, null);
    }
    RoundFailure failure = decoded.value();
    boolean ours = failure.getRunId().equals(runId);
    if (ours && failure.getRound() == republishedFor) {
      LOG.debug("run {}: another report of round {}'s failure", runId, republishedFor);
      return new Wait();
    }
    if (!ours || failure.getRound() != state.round()) {
      return refuse(at, key, new Verdict.Reject<>(ours ? DeadLetterReason.ROUND_NOT_OPEN
          : DeadLetterReason.RUN_MISMATCH, "a failure report for round " + failure.getRound()
          + " of run " + failure.getRunId() + "; the open round is " + state.round() + " of run "
          + runId), null);
    }
    if (!deadline.passed(roundOpenedAtMs, clock.getAsLong())) {
      if (held == null) {
        LOG.warn("run {}: a report that round {} failed came before its deadline ({} after its "
            + "commit), which the reducer does not write; held until then: {}", runId,
            state.round(), deadline.timeout(), failure.getReason());
      }
      held = failure;
      return new Wait();
    }
    return republish(failure);
  }

  /**
   * What the clock decides: a held failure report counts once the round's deadline and
   * {@link #HELD_PAST_DEADLINE} have passed with the round still open.
   */
  Decision onClock() {
    if (held == null || clock.getAsLong() < deadline.at(roundOpenedAtMs)
        + HELD_PAST_DEADLINE.toMillis()) {
      return new Wait();
    }
    RoundFailure failure = held;
    held = null;
    return republish(failure);
  }

  private Publish republish(RoundFailure failure) {
    LOG.warn("run {}: round {} failed ({}); republishing its weights as round {}", runId,
        state.round(), failure.getReason(), state.round() + 1);
    state.rollback();
    return new Publish(RoundOutcome.REPUBLISHED, "round " + state.round() + " failed: "
        + failure.getReason(), state.round());
  }

  /** The round that {@code decision} publishes, as the state has it now. */
  RoundPublisher.Round next(Publish decision) {
    long now = clock.getAsLong();
    return new RoundPublisher.Round(state.round() + 1, decision.outcome(), decision.reason(),
        state.nextWeights(), state.nextMomentum(), state.contributors(),
        decision.outcome() == RoundOutcome.STEPPED ? state.learningRate() : 0,
        roundOpenedAtMs == 0 ? now : roundOpenedAtMs, lastSumAtMs == 0 ? now : lastSumAtMs);
  }

  /** The dead letters that go with the next round's transaction. */
  List<Refusal> refusals() {
    return List.copyOf(refusals);
  }

  /**
   * The round {@code decision} published is committed, its commit written at
   * {@code committedAtMs}: it is the open round now, and its deadline counts from then, as the
   * reducer's does.
   */
  void committed(Publish decision, long committedAtMs) {
    state.commit();
    refusals.clear();
    held = null;
    roundOpenedAtMs = committedAtMs;
    lastSumAtMs = 0;
    if (decision.failedRound() >= 0) {
      republishedFor = decision.failedRound();
    }
  }

  private Decision refuse(RecordPlace at, byte[] key, Verdict.Reject<?> verdict,
      ReducedChunk sum) {
    LOG.warn("run {}: rejected {}: {}", runId, at, verdict.message());
    DeadLetter.Builder letter = DeadLetters.of(at.topic(), at.partition(), at.offset(), key,
        verdict.reason(), verdict.message(), DeadLetters.OPTIMIZER, clock.getAsLong());
    if (sum != null) {
      letter.setRunId(sum.getRunId()).setRound(sum.getRound()).setChunkIndex(sum.getChunkIndex());
    }
    // Sent with the round's transaction, so a restart that reads the record again does not
    // reject it twice.
    refusals.add(new Refusal(verdict.reason(), key, letter.build()));
    return new Wait();
  }

  private OuterStep step() {
    return OuterStep.of(model.getOuterOptimizer());
  }

  private float peakRate() {
    return (float) model.getOuterOptimizer().getLearningRate();
  }
}
