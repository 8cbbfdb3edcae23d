package dev.diloco.bench;

import dev.diloco.bench.Fleet.Kind;
import dev.diloco.bench.Fleet.Service;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.log.CommitWatcher;
import dev.diloco.core.log.RoundLog;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * One run of a soak on its cluster: its services (the optimizer, {@code reducers} reducer
 * instances, the workers, each with a state directory; every reducer's quorum is every worker,
 * so no round closes without one and every round can be compared) and how far it has come.
 */
final class SoakLane implements AutoCloseable {

  private static final int CHUNK_ELEMENTS = 32_768;

  final String runId;
  private final String bootstrap;
  private final KafkaClientConfig clients;
  private final RunTopics topics;
  private final CommitWatcher commits;
  private final FaultSoak.Settings settings;
  private final int reducers;
  private final Path dir;
  /** The newest committed round seen, -1 before round 0; and when each was first seen. */
  int newest = -1;
  long round0At;
  long newestAt;

  SoakLane(String runId, String bootstrap, short replication, int reducers,
      FaultSoak.Settings settings) {
    this.runId = runId;
    this.bootstrap = bootstrap;
    this.clients = KafkaClientConfig.of(bootstrap);
    this.topics = new RunTopics(runId);
    this.settings = settings;
    this.reducers = reducers;
    this.dir = settings.dir().resolve(runId);
    Topics.create(clients, topics.newTopics(2, replication, clients));
    this.commits = new CommitWatcher(topics, clients);
  }

  /** The optimizer, which publishes round 0: the others need the run's description. */
  void startOptimizer(Fleet fleet) {
    fleet.start(service("optimizer", Kind.OPTIMIZER, "512m", "outer optimizer of run " + runId
        + " at round", "optimizer", "--start", "--model", settings.model(), "--batch", "4",
        "--inner-steps", Integer.toString(settings.innerSteps()), "--codec", settings.codec(),
        "--seed", Long.toString(settings.seed()), "--chunk-elements",
        Integer.toString(CHUNK_ELEMENTS), "--key", dir.resolve("optimizer.key").toString()));
  }

  void startTraining(Fleet fleet) {
    for (int r = 1; r <= reducers; r++) {
      fleet.start(service("reducer-" + r, Kind.REDUCER, "512m", "reducer of run " + runId
          + " running on", "reducer", "--instance-id", "reducer-" + r,
          "--quorum", Integer.toString(settings.workers()), "--member-grace", "30m",
          "--state-dir", dir.resolve("reducer-" + r).toString(), "--metrics-every", "1h"));
    }
    for (int w = 0; w < settings.workers(); w++) {
      fleet.start(service("w" + w, Kind.WORKER, "768m", "worker w" + w + " of run " + runId,
          "worker", "--worker-id", "w" + w, "--shard", Integer.toString(w), "--shards",
          Integer.toString(settings.workers()), "--state-dir", dir.resolve("w" + w).toString(),
          "--exit-with", Long.toString(ProcessHandle.current().pid())));
    }
  }

  /** Reads what was committed since; true when a new round came. */
  boolean poll(Duration wait) {
    int now = commits.newest(wait).map(RoundCommit::getRound).orElse(-1);
    if (now <= newest) {
      return false;
    }
    newestAt = System.nanoTime();
    if (newest < 0) {
      round0At = newestAt;
    }
    newest = now;
    return true;
  }

  /** Whether {@code service} (a fleet name) is one of this run's. */
  boolean owns(String service) {
    return service.startsWith(runId + ".");
  }

  /**
   * Each round's SHA-256 up to {@code end}, the rounds that closed without a worker or did not
   * step, and the seconds from round 0 to {@code end}.
   */
  SoakReport.Training result(int end, List<SoakReport.Fault> faults,
      java.util.Map<String, Integer> unplanned) {
    RoundLog log = new RoundLog(topics, clients, Duration.ofSeconds(30));
    List<String> hashes = new ArrayList<>();
    List<Integer> lost = new ArrayList<>();
    for (int r = 0; r <= end; r++) {
      int round = r;
      RoundCommit c = log.commit(r).orElseThrow(() -> new IllegalStateException(
          "run " + runId + " has no commit of round " + round + ", which it passed"));
      hashes.add(HexFormat.of().formatHex(Checksums.sha256Of(c)));
      long who = c.getContributors().stream().map(Contribution::getWorkerId).distinct().count();
      if (r > 0 && (c.getOutcome() != RoundOutcome.STEPPED || who != settings.workers())) {
        lost.add(r);
      }
    }
    double seconds = (log.commit(end).orElseThrow().getCommittedAtMs()
        - log.commit(0).orElseThrow().getCommittedAtMs()) / 1e3;
    return new SoakReport.Training(runId, hashes, lost, seconds, faults, unplanned, null);
  }

  private Service service(String name, Kind kind, String heap, String ready, String command,
      String... args) {
    List<String> line = new ArrayList<>(List.of(command, "--run", runId, "--bootstrap-servers",
        bootstrap));
    line.addAll(List.of(args));
    return new Service(runId + "." + name, kind, heap, ready, line);
  }

  @Override
  public void close() {
    commits.close();
  }
}
