package dev.diloco.bench;

import dev.diloco.audit.Replay;
import dev.diloco.audit.RunRecords;
import dev.diloco.audit.TopicReader;
import dev.diloco.bench.Fleet.Kind;
import dev.diloco.bench.Fleet.Service;
import dev.diloco.broker.EmbeddedKafkaBroker;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.log.CommitWatcher;
import dev.diloco.core.log.RoundLog;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.RoundCommit;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * A worker cut off by the network, not killed ({@code diloco bench partition}): the broker,
 * optimizer, reducer and worker w0 on this machine, worker w1 in a network namespace of its own
 * ({@link NetnsLink}). Once both train, w1's link goes down for longer than the round deadline,
 * then up again. The rounds go on with w0 alone (the quorum is one); w1 rejoins at the newest
 * round when its link is back; every round replays from the log.
 */
final class PartitionBench {

  record Settings(int innerSteps, Duration roundTimeout, Duration down, Duration bound,
      Path dir) {}

  /** The sums of {@code round} (in commit {@code round + 1}) and who is in them. */
  record Row(int round, String outcome, List<String> contributors) {}

  record Result(String link, int cutDuring, int healedDuring, int rejoinedIn, List<Row> rows,
      Replay.Report replay, Map<String, Integer> unplannedExits) {}

  private static final String RUN = "partition";

  private final Settings s;
  private final PrintStream out;
  private final long begin = System.nanoTime();

  PartitionBench(Settings settings, PrintStream out) {
    this.s = settings;
    this.out = out;
  }

  Result run() throws IOException {
    Files.createDirectories(s.dir());
    try (NetnsLink link = NetnsLink.create();
        EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.builder()
            .logDir(s.dir().resolve("kafka")).listenAddress(link.hostAddress).start();
        Fleet fleet = new Fleet(Files.createDirectories(s.dir().resolve("logs")))) {
      say("%s; broker on %s", link, broker.bootstrapServers());
      KafkaClientConfig clients = KafkaClientConfig.of(broker.bootstrapServers());
      RunTopics topics = new RunTopics(RUN);
      Topics.create(clients, topics.newTopics(2, (short) 1, clients));
      List<String> cluster = List.of("--run", RUN, "--bootstrap-servers",
          broker.bootstrapServers());
      fleet.start(new Service("optimizer", Kind.OPTIMIZER, "512m", "outer optimizer",
          Fleet.args(List.of("optimizer"), cluster, List.of("--start", "--model", "tiny", "--batch",
              "4", "--inner-steps", Integer.toString(s.innerSteps()), "--round-timeout",
              s.roundTimeout().toSeconds() + "s", "--key",
              s.dir().resolve("optimizer.key").toString()))));
      try (CommitWatcher commits = new CommitWatcher(topics, clients)) {
        await(commits, "round 0", c -> true);
        fleet.start(new Service("reducer", Kind.REDUCER, "512m", "running on", Fleet.args(
            List.of("reducer"), cluster, List.of("--quorum", "1", "--member-grace", "5s", "--state-dir",
                s.dir().resolve("reducer").toString(), "--metrics-every", "1h"))));
        for (int w = 0; w < 2; w++) {
          fleet.start(new Service("w" + w, Kind.WORKER, "768m", "of run " + RUN, Fleet.args(
              List.of("worker"), cluster, List.of("--worker-id", "w" + w, "--shard",
                  Integer.toString(w), "--shards", "2", "--state-dir",
                  s.dir().resolve("w" + w).toString(), "--exit-with",
                  Long.toString(ProcessHandle.current().pid()))),
              w == 1 ? link.exec() : List.of()));
        }
        int both = await(commits, "a round summed with both workers",
            c -> contributors(c).size() == 2).getRound();
        link.cut();
        say("cut w1's link after round %d's commit (its sums had both workers)", both);
        long cutAt = System.nanoTime();
        int newest = both;
        while (System.nanoTime() - cutAt < s.down().toNanos()) {
          fleet.supervise();
          newest = commits.newest(Duration.ofMillis(500)).map(RoundCommit::getRound)
              .orElse(newest);
        }
        link.heal();
        say("link back up after %d s, at round %d", s.down().toSeconds(), newest);
        int healed = newest;
        int rejoined = await(commits, "w1 back in a round's sums", c -> c.getRound() > healed
            && contributors(c).contains("w1")).getRound();
        say("w1 is in the sums of round %d again", rejoined - 1);
        Map<String, Integer> unplanned = fleet.unplannedExits();
        fleet.stop(Kind.WORKER, Kind.OPTIMIZER, Kind.REDUCER);
        RoundLog log = new RoundLog(topics, clients, Duration.ofSeconds(30));
        List<Row> rows = new ArrayList<>();
        for (int r = 1; r <= rejoined; r++) {
          RoundCommit c = log.commit(r).orElseThrow();
          rows.add(new Row(r - 1, c.getOutcome().toString(), contributors(c)));
        }
        try (TopicReader reader = new TopicReader(clients, KafkaClientConfig.READ_TIMEOUT)) {
          Replay.Report replay = Replay.replay(RunRecords.read(topics, reader), reader, 0, -1,
              r -> { });
          return new Result(link.toString(), both, healed, rejoined - 1, rows, replay,
              unplanned);
        }
      }
    }
  }

  private RoundCommit await(CommitWatcher commits, String what, Predicate<RoundCommit> done) {
    long deadline = System.nanoTime() + s.bound().toNanos();
    int seen = -1;
    while (System.nanoTime() < deadline) {
      Optional<RoundCommit> c = commits.newest(Duration.ofMillis(500));
      if (c.isPresent() && c.get().getRound() > seen) {
        seen = c.get().getRound();
        if (done.test(c.get())) {
          return c.get();
        }
      }
    }
    throw new IllegalStateException("no " + what + " within " + s.bound() + "; see "
        + s.dir().resolve("logs"));
  }

  private static List<String> contributors(RoundCommit c) {
    return c.getContributors().stream().map(Contribution::getWorkerId).distinct().sorted()
        .toList();
  }

  String markdown(Result r) {
    StringBuilder md = new StringBuilder(String.format("# A worker cut off from the cluster%n%n"
        + "w1 in %s; round deadline %d s, link down %d s.%n%n| round | sums | contributors | |%n"
        + "| ---: | --- | --- | --- |%n", r.link(), s.roundTimeout().toSeconds(),
        s.down().toSeconds()));
    // Rows that say the same are one range.
    List<Row> rows = r.rows();
    for (int i = 0; i < rows.size(); ) {
      Row row = rows.get(i);
      int j = i;
      while (j + 1 < rows.size() && note(r, rows.get(j + 1).round()).isEmpty()
          && note(r, row.round()).isEmpty()
          && rows.get(j + 1).contributors().equals(row.contributors())
          && rows.get(j + 1).outcome().equals(row.outcome())) {
        j++;
      }
      md.append(String.format("| %s | %s | %s | %s |%n", i == j ? Integer.toString(row.round())
          : row.round() + "-" + rows.get(j).round(), row.outcome(),
          String.join(", ", row.contributors()), note(r, row.round())));
      i = j + 1;
    }
    List<Integer> without = r.rows().stream().filter(x -> !x.contributors().contains("w1"))
        .map(Row::round).toList();
    md.append(String.format("%nRounds summed without w1: %s. Replay: %s. Services that exited "
        + "on their own: %s.%n", without, r.replay().ok() ? "every round verifies ("
        + r.replay().rounds().size() + " rounds)" : "FAILED: " + r.replay().firstFinding()
        .map(Object::toString).orElse("?"), r.unplannedExits().isEmpty() ? "none"
        : r.unplannedExits()));
    return md.toString();
  }

  private static String note(Result r, int round) {
    return round == r.cutDuring() ? "the link is cut while this round trains"
        : round == r.healedDuring() ? "the link is back while this round trains"
        : round == r.rejoinedIn() ? "w1 counted again" : "";
  }

  private void say(String format, Object... args) {
    out.printf("[%6.1f s] %s%n", (System.nanoTime() - begin) / 1e9, String.format(format, args));
  }
}
