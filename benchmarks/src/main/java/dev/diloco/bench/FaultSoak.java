package dev.diloco.bench;

import dev.diloco.audit.Replay;
import dev.diloco.audit.RunRecords;
import dev.diloco.audit.TopicReader;
import dev.diloco.bench.Fleet.Kind;
import dev.diloco.bench.Fleet.Service;
import dev.diloco.bench.SoakReport.Fault;
import dev.diloco.bench.SoakReport.Training;
import dev.diloco.broker.ClusterNode;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.kafka.CommitWatcher;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RoundLog;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.TopicDescription;

/**
 * The fault-injection soak ({@code diloco bench faults}): a small run as separate processes on
 * a three-node KRaft cluster (topics on three replicas, two in sync), two reducer instances,
 * the optimizer and the workers (each with its state directory). From a seed it kills one
 * service at a time with SIGKILL at random moments, worker, reducer, optimizer and broker in
 * turn (a random order in each turn of four), and starts it again after a random pause. Once
 * the faults are in, the run goes on two more rounds; then the same run without faults trains as
 * many rounds, and every round's SHA-256 is compared, every commit checked for a lost worker,
 * and the faulty run replayed from its topics.
 */
final class FaultSoak {

  /**
   * @param faults how many to inject
   * @param gap the pause between every service being back (serving again) and the next fault,
   *     drawn in [gap, 2 gap]
   * @param maxDown the longest a killed service stays down, drawn in [0, maxDown]
   * @param stall the longest the run may go without a new commit before it counts as a hang
   * @param budget the longest the whole soak may take
   */
  record Settings(int faults, int workers, int innerSteps, long seed, Duration gap,
      Duration maxDown, Duration stall, Duration budget, Path dir) {
    Settings {
      if (faults < 0 || workers < 1 || innerSteps < 1 || gap.isNegative() || maxDown.isNegative()
          || stall.isZero() || stall.isNegative() || budget.isZero() || budget.isNegative()) {
        throw new IllegalArgumentException("soak settings out of range: " + faults
            + " faults, " + workers + " workers, " + innerSteps + " inner steps, gap " + gap
            + ", down at most " + maxDown + ", stall " + stall + ", budget " + budget);
      }
    }
  }

  private static final int BROKERS = 3;
  private static final int CHUNK_ELEMENTS = 32_768;
  private static final Kind[] KINDS = Kind.values();

  private final Settings settings;
  private final PrintStream out;
  private final long begin = System.nanoTime();
  private String bootstrap;

  FaultSoak(Settings settings, PrintStream out) {
    this.settings = settings;
    this.out = out;
  }

  SoakReport run() throws IOException {
    Path logs = Files.createDirectories(settings.dir().resolve("logs"));
    List<ClusterNode> nodes = ClusterNode.plan(BROKERS);
    List<String> addresses = new ArrayList<>();
    try (Fleet fleet = new Fleet(logs)) {
      for (ClusterNode node : nodes) {
        int port = freePort();
        addresses.add("127.0.0.1:" + port);
        fleet.start(new Service("broker-" + node.nodeId(), Kind.BROKER, "768m",
            "Kafka broker ready on", List.of(
            "broker", "--dir", settings.dir().resolve("broker-" + node.nodeId()).toString(),
            "--port", Integer.toString(port), "--node-id", Integer.toString(node.nodeId()),
            "--voters", node.voters(), "--cluster-id", node.clusterId())));
      }
      bootstrap = String.join(",", addresses);
      KafkaClientConfig clients = KafkaClientConfig.of(bootstrap);
      awaitHealthy(clients, settings.stall());
      say("a cluster of %d brokers on %s", BROKERS, bootstrap);
      Training faulty = train(fleet, clients, "soak", true, -1);
      Training steady = faulty.hung() == null
          ? train(fleet, clients, "soak-steady", false, faulty.lastRound()) : null;
      Replay.Report replay = null;
      if (faulty.hung() == null) {
        try (TopicReader reader = new TopicReader(clients, Duration.ofSeconds(60))) {
          RunTopics topics = new RunTopics("soak");
          replay = Replay.replay(RunRecords.read(topics, reader), reader, 0, -1, r -> { });
        }
      }
      return new SoakReport(settings, faulty, steady, replay, seconds());
    }
  }

  /**
   * Trains run {@code runId} until round {@code until} is committed (-1: until the faults are
   * in, then two rounds more), injecting faults if {@code faulty}.
   */
  private Training train(Fleet fleet, KafkaClientConfig clients, String runId, boolean faulty,
      int until) {
    RunTopics topics = new RunTopics(runId);
    Topics.create(clients, topics.newTopics(2, (short) BROKERS, clients));
    Path runDir = settings.dir().resolve(runId);
    fleet.start(service(runId + ".optimizer", Kind.OPTIMIZER, "512m",
        "outer optimizer of run " + runId + " at round", runId, "optimizer",
        "--start", "--model", "tiny", "--batch", "4",
        "--inner-steps", Integer.toString(settings.innerSteps()),
        "--seed", Long.toString(settings.seed()), "--chunk-elements",
        Integer.toString(CHUNK_ELEMENTS), "--key", runDir.resolve("optimizer.key").toString()));
    RoundLog log = new RoundLog(topics, clients, Duration.ofSeconds(30));
    List<Fault> faults = new ArrayList<>();
    try (CommitWatcher commits = new CommitWatcher(topics, clients)) {
      if (!awaitRound(commits, fleet, 0)) {
        return Training.hung(runId, "no round 0 within " + settings.stall(), faults);
      }
      // Quorum = every worker: no round may close without one, so every round is comparable.
      for (int r = 1; r <= 2; r++) {
        fleet.start(service(runId + ".reducer-" + r, Kind.REDUCER, "512m",
            "reducer of run " + runId + " running on", runId, "reducer",
            "--instance-id", "reducer-" + r,
            "--quorum", Integer.toString(settings.workers()), "--round-timeout", "30m",
            "--member-grace", "30m", "--state-dir", runDir.resolve("reducer-" + r).toString(),
            "--metrics-every", "1h"));
      }
      for (int w = 0; w < settings.workers(); w++) {
        fleet.start(service(runId + ".w" + w, Kind.WORKER, "768m",
            "worker w" + w + " of run " + runId, runId, "worker",
            "--worker-id", "w" + w, "--shard", Integer.toString(w), "--shards",
            Integer.toString(settings.workers()), "--state-dir",
            runDir.resolve("w" + w).toString(), "--exit-with",
            Long.toString(ProcessHandle.current().pid())));
      }
      Random random = new Random(settings.seed());
      Deque<Kind> turn = new ArrayDeque<>();
      Map<String, Long> restartAt = new HashMap<>();
      long started = System.nanoTime();
      long progressAt = started;
      long nextFault = -1; // set once every service is ready
      int newest = 0;
      int end = until;
      while (end < 0 || newest < end) {
        int now = commits.newest(Duration.ofMillis(500)).map(RoundCommit::getRound).orElse(0);
        long t = System.nanoTime();
        if (now > newest) {
          newest = now;
          progressAt = t;
          say("%s: round %d committed (%d faults so far)", runId, newest, faults.size());
        }
        String over = t - progressAt > settings.stall().toNanos()
            ? "no new round for " + settings.stall() + " after round " + newest
            : t - begin > settings.budget().toNanos() ? "over the budget of " + settings.budget()
            : null;
        if (over != null) {
          return Training.hung(runId, over, faults);
        }
        restartAt.entrySet().removeIf(e -> {
          if (t < e.getValue()) {
            return false;
          }
          fleet.start(e.getKey());
          return true;
        });
        fleet.supervise();
        // The next fault comes a random gap after every service is back and serving.
        boolean ready = restartAt.isEmpty() && fleet.allReady();
        if (!ready) {
          nextFault = -1;
        } else if (nextFault < 0) {
          nextFault = t + gap(random);
        }
        if (faulty && faults.size() < settings.faults() && ready && t >= nextFault) {
          if (turn.isEmpty()) {
            List<Kind> kinds = new ArrayList<>(List.of(KINDS));
            Collections.shuffle(kinds, random);
            turn.addAll(kinds);
          }
          if (turn.peek() == Kind.BROKER && !healthy(clients)) {
            continue; // one broker at a time: the last one is not back in every ISR yet
          }
          Kind kind = turn.poll();
          List<Service> candidates = fleet.services(kind).stream()
              .filter(s -> kind == Kind.BROKER || s.name().startsWith(runId + ".")).toList();
          Service victim = candidates.get(random.nextInt(candidates.size()));
          fleet.kill(victim.name());
          long down = (long) (random.nextDouble() * settings.maxDown().toNanos());
          restartAt.put(victim.name(), t + down);
          faults.add(new Fault(seconds(), kind, victim.name(), newest, down / 1e9));
        }
        if (faulty && end < 0 && faults.size() >= settings.faults() && restartAt.isEmpty()) {
          end = newest + 2;
          say("%s: %d faults injected; two more rounds, to %d", runId, faults.size(), end);
        }
      }
      double seconds = (System.nanoTime() - started) / 1e9;
      Map<String, Integer> unplanned = fleet.unplannedExits();
      fleet.stop(Kind.WORKER, Kind.OPTIMIZER, Kind.REDUCER);
      List<String> hashes = new ArrayList<>();
      List<Integer> lost = new ArrayList<>();
      for (int r = 0; r <= end; r++) {
        RoundCommit c = log.commit(r).orElseThrow(() -> new IllegalStateException(
            "run " + runId + " has no commit of a round it passed"));
        hashes.add(HexFormat.of().formatHex(Checksums.sha256Of(c)));
        List<String> who = c.getContributors().stream().map(Contribution::getWorkerId)
            .distinct().toList();
        if (r > 0 && (c.getOutcome() != RoundOutcome.STEPPED
            || who.size() != settings.workers())) {
          lost.add(r);
        }
      }
      return new Training(runId, hashes, lost, seconds, faults, unplanned, null);
    }
  }

  private Service service(String name, Kind kind, String heap, String ready, String runId,
      String command, String... args) {
    List<String> line = new ArrayList<>(List.of(command, "--run", runId, "--bootstrap-servers",
        bootstrap));
    line.addAll(List.of(args));
    return new Service(name, kind, heap, ready, line);
  }

  /** Waits (within the stall bound) for a commit of round {@code round} or later. */
  private boolean awaitRound(CommitWatcher commits, Fleet fleet, int round) {
    long deadline = System.nanoTime() + settings.stall().toNanos();
    while (System.nanoTime() < deadline) {
      fleet.supervise();
      Optional<RoundCommit> c = commits.newest(Duration.ofMillis(500));
      if (c.isPresent() && c.get().getRound() >= round) {
        return true;
      }
    }
    return false;
  }

  /** Whether every partition, internal ones included, has all its replicas in sync. */
  private static boolean healthy(KafkaClientConfig clients) {
    Map<String, Object> admin = new HashMap<>(clients.admin());
    admin.put("default.api.timeout.ms", 10_000);
    admin.put("request.timeout.ms", 5_000);
    try (Admin client = Admin.create(admin)) {
      var names = client.listTopics(new ListTopicsOptions().listInternal(true)).names()
          .get(10, TimeUnit.SECONDS);
      if (client.describeCluster().nodes().get(10, TimeUnit.SECONDS).size() < BROKERS) {
        return false;
      }
      for (TopicDescription d : client.describeTopics(names).allTopicNames()
          .get(10, TimeUnit.SECONDS).values()) {
        if (d.partitions().stream().anyMatch(p -> p.isr().size() < p.replicas().size())) {
          return false;
        }
      }
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  private void awaitHealthy(KafkaClientConfig clients, Duration bound) {
    long deadline = System.nanoTime() + bound.toNanos();
    while (!healthy(clients)) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the cluster of " + BROKERS + " brokers on " + bootstrap
            + " did not come up within " + bound + "; see " + settings.dir().resolve("logs"));
      }
    }
  }

  private long gap(Random random) {
    return settings.gap().toNanos() + (long) (random.nextDouble() * settings.gap().toNanos());
  }

  private double seconds() {
    return (System.nanoTime() - begin) / 1e9;
  }

  private void say(String format, Object... args) {
    out.printf("[%6.1f s] %s%n", seconds(), String.format(format, args));
  }

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 0, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("no free port on 127.0.0.1", e);
    }
  }
}
