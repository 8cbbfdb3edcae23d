package dev.diloco.bench;

import dev.diloco.audit.Replay;
import dev.diloco.audit.RunRecords;
import dev.diloco.audit.TopicReader;
import dev.diloco.bench.Fleet.Kind;
import dev.diloco.bench.Fleet.Service;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.log.CommitWatcher;
import dev.diloco.core.log.RoundLog;
import dev.diloco.schemas.Overlap;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundStats;
import dev.diloco.schemas.WorkerHeartbeat;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Rounds over an emulated wide-area network ({@code diloco bench wan}): the broker, with the
 * reducer and the optimizer beside it, in a network namespace of its own (the "data centre"),
 * each worker in another, joined to it by a veth pair whose two directions are limited to the
 * link's bandwidth by token bucket filters ({@link NetnsLink#limit}). For each link speed, the
 * same run synchronously and overlapped, one after the other on the same links. No latency is
 * emulated: the kernel's netem is not on these machines.
 */
final class WanBench {

  record Settings(List<Long> rates, List<Overlap> modes, int workers, int rounds, int innerSteps,
      int batch, Path data, Path dir, Duration armBound, Duration budget) {
    Settings {
      if (workers < 1 || rounds < 2 || innerSteps < 1 || batch < 1) {
        throw new IllegalArgumentException("the bench needs >= 1 worker, >= 2 rounds, H >= 1 "
            + "and batch >= 1, got " + workers + ", " + rounds + ", " + innerSteps + ", "
            + batch);
      }
      if (rates.isEmpty() || modes.isEmpty()) {
        throw new IllegalArgumentException("the bench needs a link speed and a mode");
      }
    }
  }

  /** One worker's round, as it reported it. */
  record WorkerRound(String worker, int round, double compute, double waitSeconds, long sent,
      long received) {
    double utilisation() {
      return compute / (compute + waitSeconds);
    }
  }

  /**
   * One run: {@code commits} of rounds 0 to R, the workers' rounds 0 to R - 1, the replay.
   */
  record Arm(long rate, Overlap mode, List<RoundCommit> commits, List<WorkerRound> rounds,
      Replay.Report replay) {}

  private static final int PORT = 9092; // the broker's namespace has nothing else in it

  private final Settings s;
  private final PrintStream out;
  private final long begin = System.nanoTime();

  WanBench(Settings settings, PrintStream out) {
    this.s = settings;
    this.out = out;
  }

  List<Arm> run() throws IOException {
    Files.createDirectories(s.dir());
    List<NetnsLink> sites = new ArrayList<>();
    try (NetnsLink centre = NetnsLink.create();
        Fleet fleet = new Fleet(Files.createDirectories(s.dir().resolve("logs")))) {
      try {
        for (int w = 0; w < s.workers(); w++) {
          NetnsLink site = NetnsLink.create(centre);
          sites.add(site);
          site.routeTo(centre.nsAddress);
        }
        String bootstrap = centre.nsAddress + ":" + PORT;
        say("broker, reducer and optimizer in %s; broker on %s", centre.namespace, bootstrap);
        sites.forEach(site -> say("worker site %s", site));
        fleet.start(new Service("broker", Kind.BROKER, "1g", "Kafka broker ready",
            List.of("broker", "--dir", s.dir().resolve("kafka").toString(), "--port",
                Integer.toString(PORT), "--listen", centre.nsAddress), centre.exec()));
        awaitReady(fleet, "broker");
        KafkaClientConfig clients = KafkaClientConfig.of(bootstrap);
        List<Arm> arms = new ArrayList<>();
        for (long rate : s.rates()) {
          sites.forEach(site -> site.limit(rate));
          for (Overlap mode : s.modes()) {
            arms.add(arm(fleet, clients, centre, sites, rate, mode));
          }
        }
        return arms;
      } finally {
        sites.forEach(NetnsLink::close);
      }
    }
  }

  private Arm arm(Fleet fleet, KafkaClientConfig clients, NetnsLink centre,
      List<NetnsLink> sites, long rate, Overlap mode) throws IOException {
    String run = "wan-" + WanReport.rate(rate).replace(" ", "").replace("/s", "")
        .toLowerCase(Locale.ROOT) + "-" + mode.name().toLowerCase(Locale.ROOT);
    say("== %s: %s, %d workers, %d rounds of H = %d", run, WanReport.rate(rate),
        s.workers(), s.rounds(), s.innerSteps());
    RunTopics topics = new RunTopics(run);
    Topics.create(clients, topics.newTopics(2, (short) 1, clients));
    List<String> cluster = List.of("--run", run, "--bootstrap-servers",
        clients.bootstrapServers());
    fleet.start(new Service("optimizer", Kind.OPTIMIZER, "512m", "outer optimizer",
        Fleet.args(List.of("optimizer"), cluster, List.of("--start", "--model", "tiny",
            "--batch", Integer.toString(s.batch()), "--inner-steps",
            Integer.toString(s.innerSteps()), "--overlap", mode.name().toLowerCase(Locale.ROOT),
            "--round-timeout", "10m")),
        centre.exec()));
    try (CommitWatcher commits = new CommitWatcher(topics, clients)) {
      await(commits, 0, "round 0 of " + run);
      fleet.start(new Service("reducer", Kind.REDUCER, "512m", "running on", Fleet.args(
          List.of("reducer"), cluster, List.of("--quorum", Integer.toString(s.workers()),
              "--state-dir", s.dir().resolve("reducer-" + run).toString(),
              "--metrics-every", "1h")), centre.exec()));
      for (int w = 0; w < s.workers(); w++) {
        List<String> worker = new ArrayList<>(List.of("worker", "--worker-id", "w" + w,
            "--shard", Integer.toString(w), "--shards", Integer.toString(s.workers()),
            "--until-round", Integer.toString(s.rounds()), "--exit-with",
            Long.toString(ProcessHandle.current().pid())));
        if (s.data() != null) {
          worker.addAll(List.of("--data", s.data().toString()));
        }
        fleet.start(new Service("w" + w, Kind.WORKER, "768m", "of run " + run,
            Fleet.args(worker, cluster), sites.get(w).exec()));
      }
      await(commits, s.rounds(), "round " + s.rounds() + " of " + run);
    }
    List<WorkerRound> rounds = reports(topics, clients);
    fleet.stop(Kind.WORKER, Kind.REDUCER, Kind.OPTIMIZER);
    RoundLog log = new RoundLog(topics, clients, Duration.ofSeconds(30));
    List<RoundCommit> commits = new ArrayList<>();
    for (int r = 0; r <= s.rounds(); r++) {
      commits.add(log.commit(r).orElseThrow());
    }
    try (TopicReader reader = new TopicReader(clients, KafkaClientConfig.READ_TIMEOUT)) {
      Replay.Report replay = Replay.replay(RunRecords.read(topics, reader), reader, 0,
          s.rounds(), r -> { });
      Arm arm = new Arm(rate, mode, commits, rounds, replay);
      say("%s", WanReport.summary(arm));
      return arm;
    }
  }

  /**
   * Every worker's report of rounds 0 to R - 1, from the membership topic; a worker reports a
   * round after publishing it, so the last may trail commit R a little.
   */
  private List<WorkerRound> reports(RunTopics topics, KafkaClientConfig clients) {
    AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);
    long deadline = System.nanoTime() + KafkaClientConfig.READ_TIMEOUT.toNanos();
    List<WorkerRound> rounds = new ArrayList<>();
    while (true) {
      rounds.clear();
      try (TopicReader reader = new TopicReader(clients, Duration.ofSeconds(30))) {
        reader.scan(topics.membership(), r -> {
          WorkerHeartbeat h = serde.decode(r.value());
          RoundStats st = h.getReport();
          if (st != null && st.getRound() < s.rounds()) {
            rounds.add(new WorkerRound(h.getWorkerId(), st.getRound(), st.getComputeSeconds(),
                st.getWaitSeconds(), st.getBytesPublished(), st.getBytesReceived()));
          }
        });
      }
      if (rounds.size() >= s.workers() * s.rounds() || System.nanoTime() > deadline) {
        return List.copyOf(rounds);
      }
      sleep(Duration.ofMillis(500));
    }
  }

  private void await(CommitWatcher commits, int round, String what) {
    long deadline = System.nanoTime() + s.armBound().toNanos();
    while (System.nanoTime() < deadline && !overBudget()) {
      Optional<RoundCommit> c = commits.newest(Duration.ofMillis(500));
      if (c.isPresent() && c.get().getRound() >= round) {
        return;
      }
    }
    throw new IllegalStateException("no " + what + " within " + s.armBound() + " (budget "
        + s.budget() + "); see " + s.dir().resolve("logs"));
  }

  private void awaitReady(Fleet fleet, String name) {
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (!fleet.isReady(name)) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(name + " not ready within 2 min; see "
            + fleet.logOf(name));
      }
      sleep(Duration.ofMillis(200));
    }
  }

  private boolean overBudget() {
    return System.nanoTime() - begin > s.budget().toNanos();
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  private void say(String format, Object... args) {
    out.printf("[%6.1f s] %s%n", (System.nanoTime() - begin) / 1e9, String.format(format, args));
  }
}
