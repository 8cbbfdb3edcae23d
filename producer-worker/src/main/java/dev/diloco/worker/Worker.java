package dev.diloco.worker;

import dev.diloco.core.codec.ErrorFeedback;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.CommitWatcher;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RoundLog;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.round.EagerEstimate;
import dev.diloco.core.math.PseudoGradient;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.Overlap;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundStats;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A DiLoCo worker (Douillard et al. 2023, Algorithm 1, lines 3-9), round after round:
 * load the committed weights θ(r) → H inner AdamW steps on its own shard → Δ = θ(r) − θ_local →
 * publish Δ in chunks → wait for round r + 1. It joins at the newest committed round, announces
 * itself for each round it trains, and says it leaves when stopped. The inner optimizer's state
 * stays with it across rounds, and so does, in a run with error feedback, what the codec left
 * out of its last Δ (added to the next one before it is encoded). With a {@link StateDir} that
 * state survives a restart: the worker saves it after training each round, before publishing,
 * and a worker restarted on the same directory goes on to the same bits. Its data position is
 * a function of (seed, worker, round, step) ({@link ByteCorpus#stepRandom}), so it draws the
 * same windows whenever it (re)starts.
 *
 * <p>In a run that overlaps its rounds (the description's {@link Overlap}) the worker does not
 * wait after publishing Δ(r): it trains round r + 1 at once from an estimate θ̂ of its weights
 * ({@link EagerEstimate}), while its own thread sends Δ(r) and fetches θ(r + 1) ({@link
 * WeightsAhead}); once its inner steps are done it re-bases on θ(r + 1), so that Δ(r + 1) is
 * defined against the committed weights as in every run. The re-base waits for the end of the
 * inner steps, so the bits do not depend on when the commit arrived.
 */
public final class Worker implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Worker.class);
  /** How long a stopping worker waits to say it leaves: the cluster may not answer. */
  static final Duration LEAVE_BOUND = Duration.ofSeconds(3);
  /** How long each of its clients may take to close. */
  static final Duration CLOSE_BOUND = Duration.ofSeconds(1);

  /** What the worker does each round. */
  public record Settings(String runId, String workerId, int innerSteps, AdamW.Config inner,
      PayloadFormat format, long seed, int evalBatches, Duration roundTimeout, Path stateDir) {

    /** Settings of a worker that keeps its state in memory only. */
    public Settings(String runId, String workerId, int innerSteps, AdamW.Config inner,
        PayloadFormat format, long seed, int evalBatches, Duration roundTimeout) {
      this(runId, workerId, innerSteps, inner, format, seed, evalBatches, roundTimeout, null);
    }

    public Settings {
      new RunTopics(runId);
      if (workerId == null || workerId.isBlank()) {
        throw new IllegalArgumentException("a worker needs an id");
      }
      if (innerSteps < 1) {
        throw new IllegalArgumentException("inner steps must be >= 1, got " + innerSteps);
      }
      if (evalBatches < 1) {
        throw new IllegalArgumentException("eval batches must be >= 1, got " + evalBatches);
      }
    }
  }

  private final Settings settings;
  private final long tokensPerRound;
  private final ByteTransformer model;
  private final EvalSet eval;
  private final WorkerLinks links;
  private final CommitWatcher commits;
  private final Heartbeats heartbeats;
  private final AdamW adamw;
  private final InnerSteps innerSteps;
  /** What the codec left out of the last pseudo-gradient (null: the run sends it as it is). */
  private final ErrorFeedback feedback;
  /** Where the state above survives a restart; null: in memory only. */
  private final StateDir state;
  /**
   * Where each round's inner steps start before its commit is known, in a run that overlaps
   * its rounds; null: the worker waits for each round's weights.
   */
  private final NextStart nextStart;
  private volatile boolean stopping;
  private final Uncounted uncounted;

  /**
   * Prepares a worker of {@code model} on {@code shard}, checking the run's model description
   * against the model: a different layout is refused before anything is trained.
   */
  public Worker(Settings settings, ByteTransformer model, byte[] shard, byte[] evalSlice,
      KafkaClientConfig clients) {
    this.settings = settings;
    this.tokensPerRound = (long) settings.innerSteps() * model.batch()
        * model.config().contextLength();
    this.model = model;
    RunTopics topics = new RunTopics(settings.runId());
    RoundLog log = new RoundLog(topics, clients, KafkaClientConfig.READ_TIMEOUT);
    ModelDescription description = log.model().orElseThrow(() -> new IllegalStateException(
        "run " + settings.runId() + " has no model description yet on " + topics.model()
            + ": start its optimizer first"));
    ParameterLayout published = ParameterLayout.fromSpec(description.getLayout());
    if (!published.equals(model.layout())) {
      throw new IllegalStateException("run " + settings.runId() + " trains a model of "
          + published.totalElements() + " parameters in " + published.tensors().size()
          + " tensors; this worker's model has " + model.layout().totalElements() + " in "
          + model.layout().tensors().size() + ": start the worker with the run's model");
    }
    ChunkPlan plan = published.chunks(description.getLayout().getChunkElements());
    this.adamw = new AdamW(settings.inner(), model.layout());
    this.innerSteps = new InnerSteps(model, adamw, shard, settings.seed(), settings.workerId(),
        settings.innerSteps());
    this.feedback = description.getErrorFeedback()
        ? new ErrorFeedback(settings.format().codec(), plan) : null;
    this.eval = new EvalSet(evalSlice, settings.evalBatches(), model.batch(),
        model.config().contextLength(), description.getSeed());
    Overlap overlap = description.getOverlap();
    this.nextStart = overlap == Overlap.NONE ? null : new NextStart(overlap,
        settings.format().codec(), plan, description.getOuterOptimizer());
    this.uncounted = new Uncounted(settings.workerId());
    this.links = WorkerLinks.open(settings, topics, log, plan, clients);
    this.commits = links.commits();
    this.heartbeats = links.heartbeats();
    try {
      this.state = settings.stateDir() == null ? null : StateDir.open(settings.stateDir(),
          settings.runId(), settings.workerId(), model.layout().totalElements());
    } catch (RuntimeException e) {
      links.close();
      throw e;
    }
    LOG.info("worker {}: publishing {}", settings.workerId(), overlap == Overlap.NONE
        ? "and waiting for each round's weights" : "and training on (overlap " + overlap + ")");
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
    Optional<StateDir.Saved> saved = state == null ? Optional.empty() : state.load();
    // A saved round was committed (the worker trained from it): the log must show it.
    int savedRound = saved.map(StateDir.Saved::round).orElse(0);
    Optional<RoundCommit> first = commits.await(savedRound, settings.roundTimeout());
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
    float[] global = new float[n]; // θ(r), the committed weights of the round being trained
    float[] local = new float[n];
    float[] grad = new float[n];
    float[] delta = new float[n];
    int done = 0;
    int published = -1;
    // Overlapped: where this round's inner steps start before its commit is known (θ̂); null:
    // the worker waits for the commit, as in synchronous DiLoCo.
    float[] start = null;
    if (saved.isPresent()) {
      if (resume(saved.get(), round)) {
        published = round++;
      }
      float[] next = saved.get().nextStart();
      if (nextStart != null && next != null && round == saved.get().round() + 1
          && round < untilRound && rounds > 0) {
        start = next; // the round it was about to train when it stopped, from the same weights
        links.ahead().start(null, round, null);
      }
    }
    while (done < rounds && round < untilRound && !stopping) {
      long blocked = 0; // ns this thread spent on communication this round
      RoundDownload.Fetched weights = null;
      RoundCommit c = null;
      boolean waited = true;
      if (start == null) {
        long t = System.nanoTime();
        Optional<RoundCommit> commit = commits.await(round, settings.roundTimeout());
        if (commit.isEmpty()) {
          warnNoRound(round);
          break;
        }
        c = commit.get();
        uncounted.check(c, published);
        if (c.getRound() >= untilRound) {
          break;
        }
        if (c.getRound() > round) {
          round = joinLater(c);
        }
        // Checked as a whole, and by chunk when read in full: corrupt weights throw here.
        weights = links.download().fetch(c, global); // global: the last round's
        System.arraycopy(weights.weights(), 0, global, 0, n);
        blocked += System.nanoTime() - t;
        System.arraycopy(global, 0, local, 0, n);
      } else {
        System.arraycopy(start, 0, local, 0, n);
      }

      long computeStart = System.nanoTime();
      double lossSum = train(round, local, grad);
      if (stopping) {
        break; // a half-finished round is not published
      }
      double computeSeconds = (System.nanoTime() - computeStart) / 1e9;
      if (start != null) { // overlapped: the round's own commit is needed now, to re-base on it
        long t = System.nanoTime();
        WeightsAhead.Arrived a = links.ahead().join();
        blocked += System.nanoTime() - t;
        waited = a.waited();
        if (a.commit() == null) {
          warnNoRound(round);
          break;
        }
        c = a.commit();
        uncounted.check(c, published);
        if (a.weights() == null) { // the run went on without this worker's last Δ
          start = null;
          if (c.getRound() >= untilRound) {
            break;
          }
          LOG.info("worker {}: round {} is committed already; its inner steps of round {} are "
              + "dropped", settings.workerId(), c.getRound(), round);
          round = joinLater(c);
          continue;
        }
        weights = a.weights();
        System.arraycopy(weights.weights(), 0, global, 0, n);
        EagerEstimate.rebase(local, start, global);
        model.setParameters(local);
      }
      float meanLoss = (float) (lossSum / settings.innerSteps());
      PseudoGradient.compute(global, local, delta);
      if (feedback != null) {
        feedback.compensate(delta); // Δ + what the codec left out last round
      }
      boolean overlapNext = nextStart != null && round + 1 < untilRound
          && done + 1 < rounds;
      float[] next = overlapNext
          ? nextStart.after(c, global, links.download().momentum(), delta, start) : null;
      if (state != null) { // before publishing: what is published can always be again
        state.save(new StateDir.Saved(round, adamw.state(),
            feedback == null ? null : feedback.residual(), delta, meanLoss, next));
      }
      long t = System.nanoTime();
      ChunkPublisher.Sending sending = links.publisher().send(round, delta, settings.innerSteps(),
          tokensPerRound, meanLoss);
      if (overlapNext) {
        links.ahead().start(sending, round + 1, global); // global is θ(r + 1) when it is joined
      } else {
        sending.await();
      }
      blocked += System.nanoTime() - t;
      start = next;
      published = round;
      ChunkPublisher.Published sent = sending.published();
      float evalLoss = evalLoss();
      RoundReport report = new RoundReport(round, meanLoss, evalLoss,
          tokensPerRound / computeSeconds, sent.bytes(), weights.bytes(), computeSeconds,
          blocked / 1e9, waited);
      // Expect me in the next round; and here is what this one measured, for everyone to see.
      heartbeats.announce(HeartbeatKind.ALIVE, round + 1, new RoundStats(round, meanLoss,
          evalLoss, report.tokensPerSecond(), sent.bytes(), computeSeconds,
          report.waitSeconds(), weights.bytes()));
      reports.accept(report);
      done++;
      round++;
    }
    if (!heartbeats.tryAnnounce(HeartbeatKind.LEAVE, round, LEAVE_BOUND)) {
      LOG.warn("worker {}: could not announce within {} that it leaves (before round {}): the "
          + "cluster does not answer; the reducer waits its member grace for this worker",
          settings.workerId(), LEAVE_BOUND, round);
    }
    return done;
  }

  /** H inner AdamW steps on {@code local}, in place; returns the sum of their losses. */
  private double train(int round, float[] local, float[] grad) {
    int progressEvery = Math.max(1, settings.innerSteps() / 10);
    return innerSteps.run(round, local, grad, step -> {
      if (step % progressEvery == 0) {
        heartbeats.progress(round, step);
      }
    }, () -> stopping);
  }

  private int joinLater(RoundCommit c) {
    LOG.info("worker {}: round {} is committed already; joining it", settings.workerId(),
        c.getRound());
    heartbeats.announce(HeartbeatKind.JOIN, c.getRound(), null);
    return c.getRound();
  }

  private void warnNoRound(int round) {
    if (!stopping) {
      LOG.warn("worker {}: no round {} within {}", settings.workerId(), round,
          settings.roundTimeout());
    }
  }

  /**
   * Takes up the state saved after round s: the inner optimizer's moments and step count, and
   * the residual. If round s is still the newest committed one ({@code newest}), the worker may
   * have died before its Δ was all sent: it publishes Δ again (the reducer counts each chunk
   * once) and returns true.
   */
  private boolean resume(StateDir.Saved s, int newest) {
    adamw.restore(s.inner());
    if ((feedback != null) != (s.residual() != null)) {
      throw new IllegalStateException("worker state in " + settings.stateDir() + " was saved "
          + (s.residual() == null ? "without" : "with") + " an error-feedback residual; run "
          + settings.runId() + (feedback == null ? " has none" : " has error feedback"));
    }
    if (feedback != null) {
      feedback.restore(s.residual());
    }
    if (newest > s.round() + 1) {
      LOG.warn("worker {}: its state is of round {}, the run is at round {}: rounds {} to {} "
          + "went on without it; its inner state goes on from round {}", settings.workerId(),
          s.round(), newest, s.round() + 1, newest - 1, s.round());
    } else {
      LOG.info("worker {}: resumes from its state of round {}", settings.workerId(), s.round());
    }
    if (newest != s.round()) {
      return false;
    }
    ChunkPublisher.Published sent = links.publisher().publish(s.round(), s.pseudoGradient(),
        settings.innerSteps(), tokensPerRound, s.meanInnerLoss());
    heartbeats.announce(HeartbeatKind.ALIVE, s.round() + 1, null);
    LOG.info("worker {}: round {} is still open; published its saved pseudo-gradient again "
        + "({} bytes)", settings.workerId(), s.round(), sent.bytes());
    return true;
  }

  /** The rounds whose pseudo-gradients this worker published and the next commit left out. */
  public List<Integer> uncountedRounds() {
    return uncounted.rounds();
  }

  /** Mean loss of the local weights on the held-out batches. */
  public float evalLoss() {
    return eval.loss(model);
  }

  /** Asks a running {@link #run} to finish: it says it leaves, and returns. */
  public void stop() {
    stopping = true;
    commits.wakeup();
  }

  @Override
  public void close() {
    try (links) {
      if (state != null) {
        state.close();
      }
    }
  }
}
