package dev.diloco.worker;

import dev.diloco.core.round.EagerEstimate;
import dev.diloco.schemas.RoundCommit;
import java.time.Duration;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where each of a worker's rounds starts (DiLoCo, Algorithm 1, line 3: θ_local ← θ(r)), in one
 * of two ways. {@link Awaited}: wait for round r's commit and read its weights, as synchronous
 * DiLoCo does. {@link Estimated}: in a run that overlaps its rounds, train at once from an
 * estimate θ̂(r) made when Δ(r − 1) was sent ({@link OverlapEstimate}), while round r's commit
 * and weights are fetched on the worker's I/O thread ({@link NextRoundFetch}); when the inner
 * steps are done, {@link #land} re-bases the local weights on θ(r), so that Δ(r) is defined
 * against the committed weights as in every run. Either way {@link #weights()} is θ(r) once a
 * round has landed. Not thread-safe: the worker's training thread calls it.
 */
final class RoundStarts {

  private static final Logger LOG = LoggerFactory.getLogger(RoundStarts.class);

  /** How round r starts. */
  sealed interface Start permits Awaited, Estimated, NoRound {}

  /** θ(r) is known: {@code commit} and its {@code weights}, read in {@code blockedNanos}. */
  record Awaited(int round, RoundCommit commit, RoundDownload.Fetched weights,
      long blockedNanos) implements Start {}

  /** θ(r) is on its way; the inner steps start from {@code estimate}, θ̂(r). */
  record Estimated(int round, float[] estimate) implements Start {}

  /** No round to train: none came within the timeout, the run is past its last, or stopping. */
  record NoRound() implements Start, Landed {}

  /** What the worker knows once its inner steps are done. */
  sealed interface Landed permits Known, Overtaken, NoRound {}

  /**
   * Round r's {@code commit} and {@code weights} (now {@link #weights()}); the local weights
   * are re-based on them. {@code waited}: they were not there when the steps were done.
   */
  record Known(RoundCommit commit, RoundDownload.Fetched weights, boolean waited,
      long blockedNanos) implements Landed {}

  /** The run committed round {@code commit} without this worker's last Δ: rejoin there. */
  record Overtaken(RoundCommit commit) implements Landed {}

  private final String workerId;
  private final WorkerClients clients;
  private final LeftOutRounds leftOut;
  private final Duration timeout;
  private final IntConsumer rejoin;
  private final BooleanSupplier stopping;
  private final float[] global;
  private int untilRound = Integer.MAX_VALUE;
  /** The estimate the next round starts from; null: it waits for its commit. */
  private float[] next;
  /** The last round whose Δ this worker published; -1: none yet. */
  private int published = -1;

  /**
   * Round starts of worker {@code workerId} of a model of {@code n} parameters, read with
   * {@code clients}; {@code rejoin} announces a later round it joins; {@code stopping} says
   * when the worker stops (a round that does not come is then no news).
   */
  RoundStarts(String workerId, WorkerClients clients, LeftOutRounds leftOut, Duration timeout,
      int n, IntConsumer rejoin, BooleanSupplier stopping) {
    this.workerId = workerId;
    this.clients = clients;
    this.leftOut = leftOut;
    this.timeout = timeout;
    this.rejoin = rejoin;
    this.stopping = stopping;
    this.global = new float[n];
  }

  /** No round from {@code round} on is trained (a run of R rounds ends with commit R). */
  void until(int round) {
    this.untilRound = round;
  }

  /** θ(r) of the round landed last. */
  float[] weights() {
    return global;
  }

  /**
   * Round {@code round}'s start: the pending estimate (its weights then fetched meanwhile), or
   * its commit and weights, awaited; a later committed round is joined instead.
   */
  Start begin(int round) {
    if (next != null) {
      return new Estimated(round, next);
    }
    long t = System.nanoTime();
    Optional<RoundCommit> awaited = clients.commits().await(round, timeout);
    if (awaited.isEmpty()) {
      warnNoRound(round);
      return new NoRound();
    }
    RoundCommit c = awaited.get();
    leftOut.check(c, published);
    if (c.getRound() >= untilRound) {
      return new NoRound();
    }
    if (c.getRound() > round) {
      joinLater(c);
    }
    // Checked as a whole, and by chunk when read in full: corrupt weights throw here.
    RoundDownload.Fetched weights = clients.download().fetch(c, global); // global: θ(r − 1)
    System.arraycopy(weights.weights(), 0, global, 0, global.length);
    return new Awaited(c.getRound(), c, weights, System.nanoTime() - t);
  }

  /**
   * The end of {@code start}'s inner steps, which took {@code local} from its start: for an
   * estimated round, θ(r) as fetched meanwhile, and {@code local} re-based on it.
   */
  Landed land(Start start, float[] local) {
    if (start instanceof Awaited a) {
      return new Known(a.commit(), a.weights(), true, a.blockedNanos());
    }
    Estimated e = (Estimated) start;
    next = null;
    long t = System.nanoTime();
    NextRoundFetch.Arrived a = clients.ahead().join();
    long blocked = System.nanoTime() - t;
    if (a.commit() == null) {
      warnNoRound(e.round());
      return new NoRound();
    }
    RoundCommit c = a.commit();
    leftOut.check(c, published);
    if (a.weights() == null) { // the run went on without this worker's last Δ
      if (c.getRound() >= untilRound) {
        return new NoRound();
      }
      LOG.info("worker {}: round {} is committed already; its inner steps of round {} are "
          + "dropped", workerId, c.getRound(), e.round());
      joinLater(c);
      return new Overtaken(c);
    }
    System.arraycopy(a.weights().weights(), 0, global, 0, global.length);
    EagerEstimate.rebase(local, e.estimate(), global);
    return new Known(c, a.weights(), a.waited(), blocked);
  }

  /**
   * Sends round {@code round}'s Δ; with {@code estimate} (θ̂(r + 1), or null) the next round
   * starts from it at once and θ(r + 1) is fetched meanwhile, else the send is awaited.
   * Returns the send, acknowledged unless the next round was started.
   */
  ChunkPublisher.Sending publish(int round, float[] delta, int innerSteps, long tokens,
      float meanLoss, float[] estimate) {
    ChunkPublisher.Sending sending = clients.publisher().send(round, delta, innerSteps, tokens,
        meanLoss);
    if (estimate != null) {
      clients.ahead().start(sending, round + 1, global); // global is θ(r + 1) when it is joined
    } else {
      sending.await();
    }
    next = estimate;
    published = round;
    return sending;
  }

  /**
   * A restarted worker resumes at {@code round}: it published round {@code published}'s Δ
   * (-1: none it knows of), and {@code estimate} (or null) is where {@code round} was to start
   * when it stopped; its weights are then fetched in full meanwhile.
   */
  void resumed(int published, int round, float[] estimate) {
    this.published = published;
    if (estimate != null) {
      next = estimate;
      clients.ahead().start(null, round, null);
    }
  }

  private void joinLater(RoundCommit c) {
    LOG.info("worker {}: round {} is committed already; joining it", workerId, c.getRound());
    rejoin.accept(c.getRound());
  }

  private void warnNoRound(int round) {
    if (stopping.getAsBoolean()) {
      return;
    }
    LOG.warn("worker {}: no round {} within {}", workerId, round, timeout);
  }
}
