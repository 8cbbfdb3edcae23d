package dev.diloco.worker;

import dev.diloco.core.codec.ErrorFeedback;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.PseudoGradient;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.tokens.Tokens;
import dev.diloco.worker.model.Backend;
import dev.diloco.schemas.Overlap;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundStats;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A DiLoCo worker (Douillard et al. 2023, Algorithm 1, lines 3-9), round after round:
 * θ_local ← θ(r) → H inner AdamW steps on its own shard → Δ = θ(r) − θ_local → publish Δ in
 * chunks. It joins at the newest committed round, announces itself for each round it trains,
 * and says it leaves when stopped. Its AdamW state stays with it across rounds, and so does, in
 * a run with error feedback, what the codec left out of its last Δ. With a {@link StateDir}
 * that state survives a restart: saved after each round's inner steps, before publishing, so a
 * worker restarted on the same directory goes on to the same bits (its windows are a function
 * of (seed, worker, round, step)). In a run that overlaps its rounds it trains round r + 1 at
 * once from an estimate while θ(r + 1) travels, and re-bases on it when its steps are done
 * ({@link RoundStarts}); the re-base waits for the end of the steps, so the bits do not depend
 * on when the commit arrived.
 */
public final class Worker implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Worker.class);

  private final WorkerSettings settings;
  private final LanguageModel model;
  private final EvalSet eval;
  private final WorkerClients clients;
  private final Heartbeats heartbeats;
  private final InnerSteps innerSteps;
  /** The AdamW state and the residual, carried from round to round. */
  private final Carried carried;
  /** Where the state above survives a restart; null: in memory only. */
  private final StateDir state;
  /**
   * Where each round's inner steps start before its commit is known, in a run that overlaps
   * its rounds; null: the worker waits for each round's weights.
   */
  private final OverlapEstimate overlap;
  private final LeftOutRounds leftOut;
  private volatile boolean stopping;

  /** A worker of the run its model topic describes: see below. */
  public Worker(WorkerSettings settings, LanguageModel model, byte[] shard, byte[] evalSlice,
      KafkaClientConfig kafka) {
    this(settings, null, model, Tokens.of(shard), Tokens.of(evalSlice), kafka);
  }

  /**
   * Prepares a worker of {@code model} on {@code shard}, checking the run's model description
   * ({@code run}, as its caller read it; null: read here) against the model: a different
   * layout is refused before anything is trained.
   */
  public Worker(WorkerSettings settings, ModelDescription run, LanguageModel model,
      Tokens shard, Tokens evalSlice, KafkaClientConfig kafka) {
    this.settings = settings;
    this.model = model;
    RunTopics topics = new RunTopics(settings.runId());
    RoundLog log = new RoundLog(topics, kafka, KafkaClientConfig.READ_TIMEOUT);
    ModelDescription description = run != null ? run : log.model().orElseThrow(() ->
        new IllegalStateException("run " + settings.runId() + " has no model description yet "
            + "on " + topics.model() + ": start its optimizer first"));
    ParameterLayout published = ParameterLayout.fromSpec(description.getLayout());
    if (!published.equals(model.layout())) {
      throw new IllegalStateException("run " + settings.runId() + " trains a model of "
          + published.totalElements() + " parameters in " + published.tensors().size()
          + " tensors; this worker's model has " + model.layout().totalElements() + " in "
          + model.layout().tensors().size() + ": start the worker with the run's model");
    }
    ChunkPlan plan = published.chunks(description.getLayout().getChunkElements());
    AdamW adamw = new AdamW(settings.inner(), model.layout());
    this.innerSteps = new InnerSteps(model, adamw, shard, settings.seed(), settings.workerId(),
        settings.innerSteps());
    this.carried = new Carried(adamw, description.getErrorFeedback()
        ? new ErrorFeedback(settings.format().codec(), plan) : null);
    this.eval = new EvalSet(evalSlice, settings.evalBatches(), model.batch(),
        model.config().contextLength(), description.getSeed());
    Overlap mode = description.getOverlap();
    this.overlap = mode == Overlap.NONE ? null : new OverlapEstimate(mode,
        settings.format().codec(), plan, description.getOuterOptimizer());
    this.leftOut = new LeftOutRounds(settings.workerId());
    this.clients = WorkerClients.open(settings, topics, log, plan, kafka);
    this.heartbeats = clients.heartbeats();
    try {
      this.state = settings.stateDir() == null ? null : StateDir.open(settings.stateDir(),
          settings.runId(), settings.workerId(), model.layout().totalElements(),
          log.describedAtMs());
    } catch (RuntimeException e) {
      clients.close();
      throw e;
    }
    LOG.info("worker {}: {}; products on {}", settings.workerId(), mode == Overlap.NONE
        ? "waits for each round's weights" : "trains on, overlap " + mode, Backend.describe());
  }

  /**
   * Trains {@code rounds} rounds (or until {@link #stop()}), starting at the newest committed
   * round, and reports each; returns the number of rounds trained.
   */
  public int run(int rounds, Consumer<RoundReport> reports) {
    return run(rounds, Integer.MAX_VALUE, reports);
  }

  /**
   * Trains at most {@code rounds} rounds, and no round from {@code untilRound} on (a run of R
   * rounds ends when round R is committed), or until {@link #stop()}.
   */
  public int run(int rounds, int untilRound, Consumer<RoundReport> reports) {
    Optional<StateDir.Saved> saved = state == null ? Optional.empty()
        : state.load(clients.log().latestCommit().map(RoundCommit::getRound).orElse(-1));
    // A saved round was committed (the worker trained from it): the log must show it.
    int savedRound = saved.map(StateDir.Saved::round).orElse(0);
    Optional<RoundCommit> first = clients.commits().await(savedRound, settings.roundTimeout());
    if (first.isEmpty()) {
      if (saved.isPresent() && !stopping) {
        throw new IllegalStateException("worker " + settings.workerId() + " has a state of "
            + "round " + savedRound + " in " + settings.stateDir() + ", but run "
            + settings.runId() + " has no commit of round " + savedRound + " within "
            + settings.roundTimeout() + ": is it this run's state directory?");
      }
      return 0;
    }
    int round = first.get().getRound();
    heartbeats.announce(HeartbeatKind.JOIN, round, null);
    int n = Math.toIntExact(model.layout().totalElements());
    RoundStarts starts = new RoundStarts(settings.workerId(), clients, leftOut,
        settings.roundTimeout(), n, r -> heartbeats.announce(HeartbeatKind.JOIN, r, null),
        () -> stopping);
    starts.until(untilRound);
    if (saved.isPresent()) {
      round = resume(saved.get(), round, starts, rounds, untilRound);
    }
    float[] local = new float[n];
    float[] grad = new float[n];
    float[] delta = new float[n];
    int done = 0;
    while (done < rounds && round < untilRound && !stopping) {
      // θ_local ← θ(r), or the estimate θ̂(r) while θ(r) is on its way.
      RoundStarts.Start start = starts.begin(round);
      if (start instanceof RoundStarts.NoRound) {
        break;
      }
      round = start instanceof RoundStarts.Awaited a ? a.round() : round;
      System.arraycopy(start instanceof RoundStarts.Estimated e ? e.estimate()
          : starts.weights(), 0, local, 0, n);
      long computeStart = System.nanoTime();
      InnerSteps.Outcome trained = train(round, local, grad); // H inner AdamW steps
      if (stopping) {
        break; // a half-finished round is not published
      }
      double computeSeconds = (System.nanoTime() - computeStart) / 1e9;
      RoundStarts.Landed landed = starts.land(start, local); // θ(r), and local on it
      if (landed instanceof RoundStarts.Overtaken o) {
        round = o.commit().getRound();
        continue;
      }
      if (!(landed instanceof RoundStarts.Known known)) {
        break;
      }
      if (trained instanceof InnerSteps.NonFinite bad) {
        leaveOut(round++, bad);
        done++;
        continue;
      }
      if (start instanceof RoundStarts.Estimated) {
        model.setParameters(local); // re-based: what the round's eval loss is of
      }
      float meanLoss = (float) (((InnerSteps.Trained) trained).lossSum() / settings.innerSteps());
      PseudoGradient.compute(starts.weights(), local, delta); // Δ = θ(r) − θ_local
      carried.compensate(delta); // Δ + what the codec left out last round
      boolean overlapNext = overlap != null && round + 1 < untilRound && done + 1 < rounds;
      float[] next = overlapNext ? overlap.after(known.commit(), starts.weights(),
          clients.download().momentum(), delta, start instanceof RoundStarts.Estimated e
          ? e.estimate() : null) : null;
      if (state != null) { // before publishing: what is published can always be again
        state.save(carried.saved(round, delta, meanLoss, next));
      }
      // Expect me in the next round, said before Δ(r) goes out: on a worker's own topic the
      // reducer reads it ahead of Δ(r), so no round r + 1 sum can close without this worker
      // however slow it is to start that round (announced after, it lost that race under load).
      heartbeats.announce(HeartbeatKind.ALIVE, round + 1, null);
      long t = System.nanoTime();
      ChunkPublisher.Published sent = starts.publish(round, delta, settings.innerSteps(),
          innerSteps.tokensPerRound(), meanLoss, next).published();
      long blocked = known.blockedNanos() + System.nanoTime() - t;
      report(new RoundReport(round, meanLoss, evalLoss(),
          innerSteps.tokensPerRound() / computeSeconds, sent.bytes(), known.weights().bytes(),
          computeSeconds, blocked / 1e9, known.waited()), reports);
      done++;
      round++;
    }
    heartbeats.leave(round);
    return done;
  }

  /** What this round measured, for everyone to see. */
  private void report(RoundReport r, Consumer<RoundReport> reports) {
    heartbeats.announce(HeartbeatKind.ALIVE, r.round() + 1, new RoundStats(r.round(),
        r.meanInnerLoss(), r.evalLoss(), r.tokensPerSecond(), r.bytesPublished(),
        r.computeSeconds(), r.waitSeconds(), r.bytesReceived()));
    reports.accept(r);
  }

  /**
   * A round whose inner steps went non-finite is said so and left out: not published, nor
   * saved (a restart would send it); its LEAVE lets the round's sums close without this worker.
   */
  private void leaveOut(int round, InnerSteps.NonFinite bad) {
    LOG.error("worker {}: round {}, inner step {}: {}. Its pseudo-gradient is left out; it "
        + "starts round {} from the committed weights, its AdamW moments and residual reset",
        settings.workerId(), round, bad.step(), bad.what(), round + 1);
    carried.reset();
    heartbeats.announce(HeartbeatKind.LEAVE, round, null);
    heartbeats.announce(HeartbeatKind.JOIN, round + 1, null);
  }

  /** H inner AdamW steps on {@code local}, in place. */
  private InnerSteps.Outcome train(int round, float[] local, float[] grad) {
    int progressEvery = Math.max(1, settings.innerSteps() / 10);
    return innerSteps.run(round, local, grad, step -> {
      if (step % progressEvery == 0) {
        heartbeats.progress(round, step);
      }
    }, () -> stopping);
  }

  /**
   * Takes up the state saved after round s: the inner optimizer's moments and step count, and
   * the residual. If round s is still the newest committed one ({@code newest}), the worker may
   * have died before its Δ was all sent: it publishes Δ again (the reducer counts each chunk
   * once). Returns the round to train next; in an overlapped run that is the one the saved
   * estimate starts, when it is still to come.
   */
  private int resume(StateDir.Saved s, int newest, RoundStarts starts, int rounds,
      int untilRound) {
    carried.restore(s, settings.stateDir(), settings.runId());
    if (newest > s.round() + 1) {
      LOG.warn("worker {}: its state is of round {}, the run is at round {}: rounds {} to {} "
          + "went on without it; its inner state goes on from round {}", settings.workerId(),
          s.round(), newest, s.round() + 1, newest - 1, s.round());
    } else {
      LOG.info("worker {}: resumes from its state of round {}", settings.workerId(), s.round());
    }
    int round = newest;
    int published = -1;
    if (newest == s.round()) {
      heartbeats.announce(HeartbeatKind.ALIVE, s.round() + 1, null); // before Δ, as every round
      ChunkPublisher.Published sent = clients.publisher().publish(s.round(), s.pseudoGradient(),
          settings.innerSteps(), innerSteps.tokensPerRound(), s.meanInnerLoss());
      LOG.info("worker {}: round {} is still open; published its saved pseudo-gradient again "
          + "({} bytes)", settings.workerId(), s.round(), sent.bytes());
      published = round++;
    }
    // The round it was about to train when it stopped, from the same weights.
    boolean estimated = overlap != null && s.nextStart() != null && round == s.round() + 1
        && round < untilRound && rounds > 0;
    starts.resumed(published, round, estimated ? s.nextStart() : null);
    return round;
  }

  /** The rounds whose pseudo-gradients this worker published and the next commit left out. */
  public List<Integer> uncountedRounds() {
    return leftOut.rounds();
  }

  /** Mean loss of the local weights on the held-out batches. */
  public float evalLoss() {
    return eval.loss(model);
  }

  /** Asks a running {@link #run} to finish: it says it leaves, and returns. */
  public void stop() {
    stopping = true;
    clients.commits().wakeup();
  }

  @Override
  public void close() {
    try (clients) {
      if (state != null) {
        state.close();
      }
    }
  }
}
