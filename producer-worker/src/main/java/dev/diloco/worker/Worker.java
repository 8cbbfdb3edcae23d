package dev.diloco.worker;

import dev.diloco.core.codec.ErrorFeedback;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.CommitWatcher;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RoundLog;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.math.PseudoGradient;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
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

  /** What one round measured. */
  public record RoundReport(int round, float meanInnerLoss, float evalLoss, double tokensPerSecond,
      long bytesPublished, long bytesReceived, double computeSeconds, double waitSeconds) {
    /** The share of the round spent computing rather than waiting for weights. */
    public double computeUtilisation() {
      return computeSeconds / (computeSeconds + waitSeconds);
    }
  }

  private final Settings settings;
  private final ByteTransformer model;
  private final byte[] shard;
  private final EvalSet eval;
  private final RunTopics topics;
  private final RoundLog log;
  private final CommitWatcher commits;
  private final Heartbeats heartbeats;
  private final ChunkPublisher publisher;
  private final RoundDownload download;
  private final ChunkPlan plan;
  private final AdamW adamw;
  /** What the codec left out of the last pseudo-gradient (null: the run sends it as it is). */
  private final ErrorFeedback feedback;
  /** Where the state above survives a restart; null: in memory only. */
  private final StateDir state;
  private volatile boolean stopping;
  private final List<Integer> uncounted = new java.util.concurrent.CopyOnWriteArrayList<>();

  /**
   * Prepares a worker of {@code model} on {@code shard}, checking the run's model description
   * against the model: a different layout is refused before anything is trained.
   */
  public Worker(Settings settings, ByteTransformer model, byte[] shard, byte[] evalSlice,
      KafkaClientConfig clients) {
    this.settings = settings;
    this.model = model;
    this.shard = shard;
    this.topics = new RunTopics(settings.runId());
    this.log = new RoundLog(topics, clients, Duration.ofSeconds(60));
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
    this.plan = published.chunks(description.getLayout().getChunkElements());
    this.adamw = new AdamW(settings.inner(), model.layout());
    this.feedback = description.getErrorFeedback()
        ? new ErrorFeedback(settings.format().codec(), plan) : null;
    this.eval = new EvalSet(evalSlice, settings.evalBatches(), model.batch(),
        model.config().contextLength(), description.getSeed());
    // On a cluster with authentication the worker has a topic of its own, which only its
    // principal may write; elsewhere all workers share one.
    String chunkTopic = RunTopics.canNameTopic(settings.workerId())
        && Topics.exists(clients, topics.workerPseudoGradients(settings.workerId()))
        ? topics.workerPseudoGradients(settings.workerId()) : topics.pseudoGradients();
    int partitions = Topics.partitions(clients, chunkTopic);
    this.commits = new CommitWatcher(topics, clients);
    this.heartbeats = new Heartbeats(topics, settings.workerId(),
        chunkTopic.equals(topics.pseudoGradients()) ? null : chunkTopic, partitions, clients);
    this.publisher = new ChunkPublisher(chunkTopic, topics, settings.workerId(), plan,
        settings.format(), partitions, clients);
    this.download = new RoundDownload(topics, plan, settings.format().codec(), log,
        settings.workerId(), clients, Duration.ofSeconds(60));
    this.state = settings.stateDir() == null ? null : StateDir.open(settings.stateDir(),
        settings.runId(), settings.workerId(), model.layout().totalElements());
    LOG.info("worker {}: publishing to {}", settings.workerId(), chunkTopic);
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
    float[] global = new float[n];
    float[] local = new float[n];
    float[] grad = new float[n];
    float[] delta = new float[n];
    int done = 0;
    int published = -1;
    if (saved.isPresent() && resume(saved.get(), round)) {
      published = round++;
    }
    long waitStart = System.nanoTime();
    while (done < rounds && round < untilRound && !stopping) {
      Optional<RoundCommit> commit = commits.await(round, settings.roundTimeout());
      if (commit.isEmpty()) {
        if (!stopping) {
          LOG.warn("worker {}: no round {} within {}", settings.workerId(), round,
              settings.roundTimeout());
        }
        break;
      }
      RoundCommit c = commit.get();
      if (published >= 0 && c.getRound() == published + 1) {
        checkCounted(c, published);
      }
      if (c.getRound() >= untilRound) {
        break;
      }
      if (c.getRound() > round) {
        LOG.info("worker {}: round {} is committed already; joining it", settings.workerId(),
            c.getRound());
        round = c.getRound();
        heartbeats.announce(HeartbeatKind.JOIN, round, null);
      }
      // Checked as a whole, and by chunk when read in full: corrupt weights throw here.
      RoundDownload.Fetched weights = download.fetch(c, global); // global: the last round's
      double waitSeconds = (System.nanoTime() - waitStart) / 1e9;
      System.arraycopy(weights.weights(), 0, global, 0, n);
      System.arraycopy(global, 0, local, 0, n);
      model.setParameters(local);

      long computeStart = System.nanoTime();
      double lossSum = 0;
      int progressEvery = Math.max(1, settings.innerSteps() / 10);
      for (int step = 0; step < settings.innerSteps() && !stopping; step++) {
        lossSum += model.lossAndGradient(ByteCorpus.windows(shard, model.batch(),
            model.config().contextLength(),
            ByteCorpus.stepRandom(settings.seed(), settings.workerId(), round, step)), grad);
        adamw.step(local, grad);
        model.setParameters(local);
        if ((step + 1) % progressEvery == 0) {
          heartbeats.progress(round, step + 1);
        }
      }
      if (stopping) {
        break; // a half-finished round is not published
      }
      double computeSeconds = (System.nanoTime() - computeStart) / 1e9;
      long tokens = tokensPerRound();
      float meanLoss = (float) (lossSum / settings.innerSteps());

      PseudoGradient.compute(global, local, delta);
      if (feedback != null) {
        feedback.compensate(delta); // Δ + what the codec left out last round
      }
      if (state != null) { // before publishing: what is published can always be again
        state.save(new StateDir.Saved(round, adamw.state(),
            feedback == null ? null : feedback.residual(), delta, meanLoss));
      }
      ChunkPublisher.Published sent = publisher.publish(round, delta,
          settings.innerSteps(), tokens, meanLoss);
      published = round;
      float evalLoss = evalLoss();
      RoundReport report = new RoundReport(round, meanLoss, evalLoss, tokens / computeSeconds,
          sent.bytes(), weights.bytes(), computeSeconds, waitSeconds);
      // Expect me in the next round; and here is what this one measured, for everyone to see.
      heartbeats.announce(HeartbeatKind.ALIVE, round + 1, new RoundStats(round, meanLoss,
          evalLoss, report.tokensPerSecond(), sent.bytes(), computeSeconds, waitSeconds,
          weights.bytes()));
      waitStart = System.nanoTime();
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
    ChunkPublisher.Published sent = publisher.publish(s.round(), s.pseudoGradient(),
        settings.innerSteps(), tokensPerRound(), s.meanInnerLoss());
    heartbeats.announce(HeartbeatKind.ALIVE, s.round() + 1, null);
    LOG.info("worker {}: round {} is still open; published its saved pseudo-gradient again "
        + "({} bytes)", settings.workerId(), s.round(), sent.bytes());
    return true;
  }

  private long tokensPerRound() {
    return (long) settings.innerSteps() * model.batch() * model.config().contextLength();
  }

  /**
   * Whether {@code commit} counted this worker's pseudo-gradient of round {@code published}:
   * the commit lists the workers in every one of its sums. A worker cannot read the dead-letter
   * topic (its ACLs), but it reads every commit, so this is where it learns that its chunks
   * came late or were rejected, and says so.
   */
  private void checkCounted(RoundCommit commit, int published) {
    boolean counted = commit.getContributors().stream()
        .anyMatch(c -> c.getWorkerId().equals(settings.workerId()));
    if (!counted) {
      uncounted.add(published);
      LOG.warn("worker {}: round {} was committed ({}{}) without this worker's pseudo-gradient "
          + "of round {}: its chunks came late or were rejected ({} of its rounds so far); "
          + "`diloco inspect` shows the dead letters by reason", settings.workerId(),
          commit.getRound(), commit.getOutcome(), commit.getReason() == null ? ""
          : ": " + commit.getReason(), published, uncounted.size());
    }
  }

  /** The rounds whose pseudo-gradients this worker published and the next commit left out. */
  public List<Integer> uncountedRounds() {
    return List.copyOf(uncounted);
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
    try {
      publisher.close();
    } finally {
      try {
        heartbeats.close();
      } finally {
        try {
          commits.close();
        } finally {
          try {
            download.close();
          } finally {
            if (state != null) {
              state.close();
            }
          }
        }
      }
    }
  }
}
