package dev.diloco.worker;

import dev.diloco.core.log.CommitWatcher;
import dev.diloco.schemas.RoundCommit;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * An overlapped worker's communication, on a thread of its own while the worker trains: the
 * acknowledgement of round r's pseudo-gradient, then round r + 1's commit and weights. The
 * worker asks for them once its inner steps are done ({@link #join}); if they are there, it
 * has not waited at all. Only this thread touches the commit watcher and the download between
 * {@link #start} and {@link #join}.
 */
final class NextRoundFetch implements AutoCloseable {

  /**
   * What came while the worker trained: the newest commit (null: none within the timeout, or
   * the worker stops), and the weights of the round asked for (null when the commit is of a
   * later round: the run went on without this worker's pseudo-gradient).
   *
   * @param waited whether the worker had to wait for it when its inner steps were done
   */
  record Arrived(RoundCommit commit, RoundDownload.Fetched weights, boolean waited) {}

  private final CommitWatcher commits;
  private final RoundDownload download;
  private final Duration timeout;
  private final ExecutorService io = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "worker-io");
    t.setDaemon(true);
    return t;
  });
  /** What the thread found, before the worker asks for it. */
  private record Came(RoundCommit commit, RoundDownload.Fetched weights) {}

  private Future<Came> pending;

  NextRoundFetch(CommitWatcher commits, RoundDownload download, Duration timeout) {
    this.commits = commits;
    this.download = download;
    this.timeout = timeout;
  }

  /**
   * Starts waiting for {@code sending}'s acknowledgement (null: nothing to wait for), then for
   * {@code round}'s commit and its weights, read against {@code held} (the weights of the round
   * before, which the download may step in place: the caller leaves it alone until
   * {@link #join}).
   */
  void start(ChunkPublisher.Sending sending, int round, float[] held) {
    if (pending != null) {
      throw new IllegalStateException("round " + round + " asked for before the last arrived");
    }
    pending = io.submit(() -> {
      if (sending != null) {
        sending.await();
      }
      Optional<RoundCommit> c = commits.await(round, timeout);
      if (c.isEmpty()) {
        return new Came(null, null);
      }
      RoundCommit commit = c.get();
      return new Came(commit, commit.getRound() == round ? download.fetch(commit, held) : null);
    });
  }

  /** What {@link #start} asked for, once it is there; a failure to publish or read throws. */
  Arrived join() {
    Future<Came> f = pending;
    pending = null;
    boolean waited = !f.isDone();
    try {
      Came c = f.get();
      return new Arrived(c.commit(), c.weights(), waited);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the next round", e);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof RuntimeException r ? r
          : new IllegalStateException(e.getCause().getMessage(), e.getCause());
    }
  }

  @Override
  public void close() {
    io.shutdownNow(); // a publication in flight is in the state directory, if there is one
    try {
      io.awaitTermination(WorkerClients.CLOSE_BOUND.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
