package dev.diloco.bench;

import dev.diloco.audit.Replay;
import dev.diloco.audit.RunRecords;
import dev.diloco.audit.TopicReader;
import dev.diloco.bench.Fleet.Kind;
import dev.diloco.bench.Fleet.Service;
import dev.diloco.bench.SoakReport.Fault;
import dev.diloco.bench.SoakReport.Training;
import dev.diloco.broker.ClusterNode;
import dev.diloco.broker.EmbeddedKafkaBroker;
import dev.diloco.core.codec.BlockCodec;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.launcher.options.RunSpecOptions;
import dev.diloco.worker.ModelConfig;
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
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.TopicDescription;

/**
 * The fault-injection soak ({@code diloco bench faults}): a small run as separate processes on
 * a three-node KRaft cluster (topics on three replicas, two in sync), two reducer instances,
 * the optimizer and the workers (each with its state directory), and beside it the same run
 * without faults, on a broker of its own, at the same time. From a seed it kills one service
 * at a time with SIGKILL at random moments, worker, reducer, optimizer and broker in turn (a
 * random order in each turn of four), starts it again after a random pause, and kills the next
 * a random gap later: one that serves (others may still be starting). Once the faults are
 * in, both runs go on two more rounds; then every round's SHA-256 is compared, every commit
 * checked for a lost worker, and the faulty run replayed from its topics.
 */
final class FaultSoak {

  /**
   * @param faults how many to inject
   * @param model the preset ({@code diloco optimizer --model}), over bytes
   * @param codec the pseudo-gradients' ({@code diloco optimizer --codec}): with int8 and int4
   *     the workers' error-feedback residuals are state that must survive their restarts too
   * @param gap the pause between a victim's restart and the next fault, drawn in [gap, 2 gap]
   * @param maxDown the longest a killed service stays down, drawn in [0, maxDown]
   * @param stall the longest the run may go without a new commit before it counts as a hang
   * @param budget the longest the whole soak may take
   */
  record Settings(int faults, int workers, String model, int innerSteps, String codec,
      long seed, Duration gap, Duration maxDown, Duration stall, Duration budget, Path dir) {
    Settings {
      ModelConfig.preset(model); // refuses, by name, a preset that does not exist
      if (faults < 0 || workers < 1 || innerSteps < 1 || gap.isNegative() || maxDown.isNegative()
          || stall.isZero() || stall.isNegative() || budget.isZero() || budget.isNegative()) {
        throw new IllegalArgumentException("soak settings out of range: " + faults
            + " faults, " + workers + " workers, " + innerSteps + " inner steps, gap " + gap
            + ", down at most " + maxDown + ", stall " + stall + ", budget " + budget);
      }
      // Before any broker starts: the optimizer would refuse it only once the cluster is up.
      RunSpecOptions.codec(codec, BlockCodec.DEFAULT_BLOCK);
    }
  }

  private static final int BROKERS = 3;
  private static final Kind[] KINDS = Kind.values();

  private final Settings settings;
  private final PrintStream out;
  private final long begin = System.nanoTime();

  FaultSoak(Settings settings, PrintStream out) {
    this.settings = settings;
    this.out = out;
  }

  SoakReport run() throws IOException {
    Path logs = Files.createDirectories(settings.dir().resolve("logs"));
    List<ClusterNode> nodes = ClusterNode.plan(BROKERS);
    List<String> addresses = new ArrayList<>();
    try (Fleet fleet = new Fleet(logs);
        EmbeddedKafkaBroker alone = EmbeddedKafkaBroker.builder()
            .logDir(settings.dir().resolve("steady-broker")).start()) {
      for (ClusterNode node : nodes) {
        int port = freePort();
        addresses.add("127.0.0.1:" + port);
        fleet.start(new Service("broker-" + node.nodeId(), Kind.BROKER, "768m",
            "Kafka broker ready on", List.of(
            "broker", "--dir", settings.dir().resolve("broker-" + node.nodeId()).toString(),
            "--port", Integer.toString(port), "--node-id", Integer.toString(node.nodeId()),
            "--voters", node.voters(), "--cluster-id", node.clusterId())));
      }
      String bootstrap = String.join(",", addresses);
      KafkaClientConfig clients = KafkaClientConfig.of(bootstrap);
      awaitHealthy(clients, bootstrap);
      say("a cluster of %d brokers on %s; the fault-free run on its own broker, %s", BROKERS,
          bootstrap, alone.bootstrapServers());
      // The same run twice at once: with faults on the cluster, and without on a broker of its
      // own (one reducer: the sums are exact, so how many share them changes no bit).
      try (SoakLane faulty = new SoakLane("soak", bootstrap, (short) BROKERS, 2, settings);
          SoakLane steady = new SoakLane("soak-steady", alone.bootstrapServers(), (short) 1, 1,
              settings)) {
        return train(fleet, clients, faulty, steady);
      }
    }
  }

  /**
   * Trains both runs, injecting faults into {@code faulty} (and its cluster), until the faults
   * are in and both have committed two rounds more; then compares and replays.
   */
  private SoakReport train(Fleet fleet, KafkaClientConfig clients, SoakLane faulty,
      SoakLane steady) {
    List<Fault> faults = new ArrayList<>();
    List<SoakLane> lanes = List.of(faulty, steady);
    for (SoakLane lane : lanes) {
      lane.startOptimizer(fleet);
    }
    long since = System.nanoTime();
    while (lanes.stream().anyMatch(l -> l.newest < 0)) {
      lanes.forEach(l -> l.poll(Duration.ofMillis(250)));
      fleet.supervise();
      if (System.nanoTime() - since > settings.stall().toNanos()) {
        return hung(faulty, steady, "no round 0 within " + settings.stall(), faults);
      }
    }
    lanes.forEach(l -> l.startTraining(fleet));
    Random random = new Random(settings.seed());
    Deque<Kind> turn = new ArrayDeque<>();
    Map<String, Long> restartAt = new HashMap<>();
    long nextFault = -1; // set once the last fault's victim is started again
    int end = -1;
    while (end < 0 || faulty.newest < end || steady.newest < end) {
      for (SoakLane lane : lanes) {
        if (lane.poll(Duration.ofMillis(250)) && lane == faulty) {
          say("%s: round %d committed (%d faults so far)", lane.runId, lane.newest,
              faults.size());
        }
      }
      long t = System.nanoTime();
      for (SoakLane lane : lanes) {
        boolean waiting = end < 0 || lane.newest < end;
        if (waiting && t - lane.newestAt > settings.stall().toNanos()) {
          return hung(faulty, steady, "run " + lane.runId + ": no new round for "
              + settings.stall() + " after round " + lane.newest, faults);
        }
      }
      if (t - begin > settings.budget().toNanos()) {
        return hung(faulty, steady, "over the budget of " + settings.budget(), faults);
      }
      restartAt.entrySet().removeIf(e -> {
        if (t < e.getValue()) {
          return false;
        }
        fleet.start(e.getKey());
        return true;
      });
      fleet.supervise();
      // The next fault comes a random gap after the last one's victim is started again.
      if (!restartAt.isEmpty()) {
        nextFault = -1;
      } else if (nextFault < 0) {
        nextFault = t + gap(random);
      }
      if (faults.size() < settings.faults() && restartAt.isEmpty() && t >= nextFault) {
        if (turn.isEmpty()) {
          List<Kind> kinds = new ArrayList<>(List.of(KINDS));
          Collections.shuffle(kinds, random);
          turn.addAll(kinds);
        }
        if (turn.peek() == Kind.BROKER && !healthy(clients)) {
          continue; // one broker at a time: the last one is not back in every ISR yet
        }
        // A victim is serving: killing one that is still starting would prove little.
        List<Service> candidates = fleet.services(turn.peek()).stream()
            .filter(s -> faulty.owns(s.name()) || s.name().startsWith("broker-"))
            .filter(s -> fleet.isReady(s.name())).toList();
        if (candidates.isEmpty()) {
          continue;
        }
        Kind kind = turn.poll();
        Service victim = candidates.get(random.nextInt(candidates.size()));
        fleet.kill(victim.name());
        long down = (long) (random.nextDouble() * settings.maxDown().toNanos());
        restartAt.put(victim.name(), t + down);
        faults.add(new Fault(seconds(), kind, victim.name(), faulty.newest, down / 1e9));
      }
      if (end < 0 && faults.size() >= settings.faults() && restartAt.isEmpty()) {
        end = faulty.newest + 2;
        say("%d faults injected; both runs go on to round %d", faults.size(), end);
      }
    }
    Map<String, Integer> unplanned = fleet.unplannedExits();
    fleet.stop(Kind.WORKER, Kind.OPTIMIZER, Kind.REDUCER);
    Training withFaults = faulty.result(end, faults, unplanned);
    Training without = steady.result(end, List.of(), Map.of());
    try (TopicReader reader = new TopicReader(clients, KafkaClientConfig.READ_TIMEOUT)) {
      RunTopics topics = new RunTopics(faulty.runId);
      Replay.Report replay = Replay.replay(RunRecords.read(topics, reader), reader, 0, -1,
          r -> { });
      return new SoakReport(settings, withFaults, without, replay, seconds());
    }
  }

  private SoakReport hung(SoakLane faulty, SoakLane steady, String why, List<Fault> faults) {
    return new SoakReport(settings, Training.hung(faulty.runId, why, faults),
        Training.hung(steady.runId, why, List.of()), null, seconds());
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

  private void awaitHealthy(KafkaClientConfig clients, String bootstrap) {
    long deadline = System.nanoTime() + settings.stall().toNanos();
    while (!healthy(clients)) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the cluster of " + BROKERS + " brokers on " + bootstrap
            + " did not come up within " + settings.stall() + "; see "
            + settings.dir().resolve("logs"));
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
