package dev.diloco.bench;

import dev.diloco.audit.Replay;
import dev.diloco.bench.Fleet.Kind;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** What a fault soak found: the faults, the rounds compared, the verdict. */
record SoakReport(FaultSoak.Settings settings, Training faulty, Training steady,
    Replay.Report replay, double seconds) {

  /** One SIGKILL: when (seconds into the soak), what, at which round, how long it stayed down. */
  record Fault(double atSeconds, Kind kind, String service, int round, double downSeconds) {}

  /**
   * One run's training: each round's SHA-256 (index = round), the rounds that closed without a
   * worker or did not step, its seconds from round 0 to its last round, its faults, the services
   * that exited on their own, and why it was given up ({@code hung}; null if it was not).
   */
  record Training(String runId, List<String> sha256, List<Integer> lostRounds, double seconds,
      List<Fault> faults, Map<String, Integer> unplannedExits, String hung) {

    static Training hung(String runId, String why, List<Fault> faults) {
      return new Training(runId, List.of(), List.of(), 0, faults, Map.of(), why);
    }

    int lastRound() {
      return sha256.size() - 1;
    }
  }

  /** The rounds whose weights differ between the faulty and the fault-free run. */
  List<Integer> differing() {
    List<Integer> rounds = new ArrayList<>();
    if (steady == null) {
      return rounds;
    }
    for (int r = 0; r < Math.min(faulty.sha256().size(), steady.sha256().size()); r++) {
      if (!faulty.sha256().get(r).equals(steady.sha256().get(r))) {
        rounds.add(r);
      }
    }
    return rounds;
  }

  boolean passed() {
    return faulty.hung() == null && steady != null && steady.hung() == null
        && steady.sha256().size() == faulty.sha256().size() && differing().isEmpty()
        && faulty.lostRounds().isEmpty() && faulty.faults().size() >= settings.faults()
        && replay != null && replay.ok();
  }

  String markdown() {
    StringBuilder md = new StringBuilder();
    md.append(String.format("# Fault soak: %s%n%n", passed() ? "PASSED" : "FAILED"));
    md.append(String.format("Seed %d, %d workers, H = %d, %s, 3 brokers (replication 3, min "
        + "ISR 2), 2 reducer instances, 1 optimizer; %.0f s in all.%n%n", settings.seed(),
        settings.workers(), settings.innerSteps(), settings.codec(), seconds));
    Map<Kind, Integer> byKind = new EnumMap<>(Kind.class);
    for (Kind k : Kind.values()) {
      byKind.put(k, 0);
    }
    faulty.faults().forEach(f -> byKind.merge(f.kind(), 1, Integer::sum));
    md.append("| faults (SIGKILL) | count |\n| --- | ---: |\n");
    byKind.forEach((k, n) -> md.append(String.format("| %s | %d |%n", k.name().toLowerCase(), n)));
    md.append(String.format("| **all** | **%d** |%n%n", faulty.faults().size()));
    md.append("| check | result |\n| --- | --- |\n");
    if (faulty.hung() != null) {
      md.append(String.format("| hang | the faulty run: %s |%n", faulty.hung()));
    } else if (steady == null || steady.hung() != null) {
      md.append(String.format("| hang | the fault-free run: %s |%n",
          steady == null ? "not run" : steady.hung()));
    } else {
      md.append("| hangs | 0 (every wait bounded) |\n");
    }
    md.append(String.format("| rounds compared | %d (0 to %d) |%n", faulty.sha256().size(),
        faulty.lastRound()));
    md.append(String.format("| rounds whose SHA-256 differs from the fault-free run | %s |%n",
        steady == null ? "not compared" : differing().size() + " " + differing()));
    md.append(String.format("| rounds lost (closed without a worker, or not stepped) | %d %s |%n",
        faulty.lostRounds().size(), faulty.lostRounds()));
    md.append(String.format("| replay of the faulty run | %s |%n", replay == null ? "not run"
        : replay.ok() ? "every round verifies (" + replay.rounds().size() + " rounds)"
        : "FAILED: " + replay.firstFinding().map(Object::toString).orElse("?")));
    md.append(String.format("| services that exited on their own (restarted) | %s |%n",
        faulty.unplannedExits().isEmpty() ? "none" : faulty.unplannedExits()));
    if (steady != null && steady.hung() == null) {
      double lost = faulty.seconds() - steady.seconds();
      md.append(String.format("| time, round 0 to %d | %.0f s with faults, %.0f s without: "
          + "%.0f s lost, %.1f s per fault |%n", faulty.lastRound(), faulty.seconds(),
          steady.seconds(), lost, lost / Math.max(1, faulty.faults().size())));
    }
    return md.toString();
  }

  /** Every fault, one line each. */
  String faultsCsv() {
    StringBuilder csv = new StringBuilder("at_seconds,kind,service,round,down_seconds\n");
    for (Fault f : faulty.faults()) {
      csv.append(String.format("%.1f,%s,%s,%d,%.2f%n", f.atSeconds(),
          f.kind().name().toLowerCase(), f.service(), f.round(), f.downSeconds()));
    }
    return csv.toString();
  }
}
