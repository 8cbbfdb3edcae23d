package dev.diloco.bench;

import dev.diloco.bench.WanBench.Arm;
import dev.diloco.bench.WanBench.WorkerRound;
import dev.diloco.schemas.Overlap;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

/**
 * The WAN bench's tables: per link speed and mode, the medians over rounds 1 to R - 1 (round 0
 * waits for its first weights in every mode) of compute, wait, utilisation, round time and
 * bytes, beside the floor that the link's bandwidth sets (bytes / bandwidth).
 */
final class WanReport {

  /** Synchronous rounds at or under this utilisation make a link slow enough to judge. */
  static final double SLOW = 0.80;
  /** What overlapped rounds must keep on such a link. */
  static final double TARGET = 0.99;

  private WanReport() {}

  /** A bandwidth in words: 20 Mbit/s. */
  static String rate(long bits) {
    return bits % 1_000_000_000L == 0 ? bits / 1_000_000_000L + " Gbit/s"
        : bits % 1_000_000L == 0 ? bits / 1_000_000L + " Mbit/s" : bits / 1000 + " kbit/s";
  }

  /** A bandwidth from its words: 1gbit, 100mbit, 512kbit. */
  static long parseRate(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    long unit = t.endsWith("gbit") ? 1_000_000_000L : t.endsWith("mbit") ? 1_000_000L
        : t.endsWith("kbit") ? 1000L : 0;
    try {
      long n = unit == 0 ? -1 : Long.parseLong(t.substring(0, t.length() - 4));
      if (n > 0 && n <= 100_000_000_000L / unit) {
        return n * unit;
      }
    } catch (NumberFormatException bad) {
      // said below
    }
    throw new IllegalArgumentException("a link speed is a whole number and kbit, mbit or gbit "
        + "(e.g. 20mbit), up to 100gbit; got '" + text + "'");
  }

  /** The rounds that count: after the first, which waits for its weights in every mode. */
  static List<WorkerRound> steady(Arm a) {
    return a.rounds().stream().filter(r -> r.round() >= 1).toList();
  }

  static double median(List<WorkerRound> rounds, ToDoubleFunction<WorkerRound> f) {
    return median(rounds.stream().mapToDouble(f).boxed().toList());
  }

  private static double median(List<Double> values) {
    List<Double> v = new ArrayList<>(values);
    if (v.isEmpty()) {
      return Double.NaN;
    }
    Collections.sort(v);
    int n = v.size();
    return n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
  }

  /** Seconds between commits r and r + 1, for r >= 1: one round of the whole run. */
  static double medianRoundSeconds(Arm a) {
    List<Double> v = new ArrayList<>();
    for (int r = 1; r + 1 < a.commits().size(); r++) {
      v.add((a.commits().get(r + 1).getCommittedAtMs() - a.commits().get(r).getCommittedAtMs())
          / 1e3);
    }
    return median(v);
  }

  /** Seconds the link needs for a round's bytes, up then down, at its bandwidth. */
  static double floorSeconds(Arm a) {
    List<WorkerRound> r = steady(a);
    return 8 * (median(r, WorkerRound::sent) + median(r, WorkerRound::received)) / a.rate();
  }

  static String summary(Arm a) {
    List<WorkerRound> r = steady(a);
    return String.format(Locale.ROOT, "%s %s: utilisation %.1f%% (median), compute %.2f s, "
        + "wait %.3f s, round %.2f s, floor %.3f s; replay %s", rate(a.rate()),
        mode(a.mode()), 100 * median(r, WorkerRound::utilisation),
        median(r, WorkerRound::compute), median(r, WorkerRound::waitSeconds), medianRoundSeconds(a),
        floorSeconds(a), a.replay().ok() ? "verifies " + a.replay().rounds().size() + " rounds"
            : "FAILED");
  }

  static String mode(Overlap mode) {
    return mode == Overlap.NONE ? "synchronous" : "overlapped (" + mode.name()
        .toLowerCase(Locale.ROOT) + ")";
  }

  static String markdown(List<Arm> arms, WanBench.Settings s) {
    StringBuilder md = new StringBuilder(String.format(Locale.ROOT, "# Rounds over emulated "
        + "slow links%n%n%d workers, tiny model, batch %d, H = %d, %d rounds per run; each "
        + "worker's link limited both ways by tc tbf; no latency emulated (no netem here). "
        + "Medians over rounds 1-%d and all workers (round 0 waits for its first weights in "
        + "every mode).%n%n| link | rounds | compute s | wait s | utilisation (min) | round s "
        + "| up B | down B | floor s | wait / floor | round / (compute + floor) | replay |%n"
        + "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|%n", s.workers(), s.batch(),
        s.innerSteps(), s.rounds(), s.rounds() - 1));
    for (Arm a : arms) {
      List<WorkerRound> r = steady(a);
      double compute = median(r, WorkerRound::compute);
      double floor = floorSeconds(a);
      md.append(String.format(Locale.ROOT, "| %s | %s | %.2f | %.3f | %.1f%% (%.1f%%) | %.2f "
          + "| %,.0f | %,.0f | %.3f | %.1fx | %.2fx | %s |%n", rate(a.rate()), mode(a.mode()),
          compute, median(r, WorkerRound::waitSeconds), 100 * median(r, WorkerRound::utilisation),
          100 * r.stream().mapToDouble(WorkerRound::utilisation).min().orElse(Double.NaN),
          medianRoundSeconds(a), median(r, WorkerRound::sent), median(r, WorkerRound::received),
          floor, median(r, WorkerRound::waitSeconds) / floor, medianRoundSeconds(a) / (compute + floor),
          a.replay().ok() ? "verifies " + a.replay().rounds().size() : "FAILED"));
    }
    md.append(String.format("%n%s%n", verdict(arms)));
    return md.toString();
  }

  /**
   * On every link where synchronous rounds keep <= 80% utilisation, whether overlapped rounds
   * keep >= 99%; and whether every run replays.
   */
  static String verdict(List<Arm> arms) {
    StringBuilder v = new StringBuilder();
    for (Arm sync : arms) {
      if (sync.mode() != Overlap.NONE) {
        continue;
      }
      double u = median(steady(sync), WorkerRound::utilisation);
      for (Arm o : arms) {
        if (o.rate() == sync.rate() && o.mode() != Overlap.NONE) {
          double uo = median(steady(o), WorkerRound::utilisation);
          v.append(String.format(Locale.ROOT, "- %s: synchronous %.1f%%%s, %s %.1f%%: %s%n",
              rate(sync.rate()), 100 * u, u <= SLOW ? " (slow enough to judge)" : "",
              mode(o.mode()), 100 * uo, u > SLOW ? "not judged (synchronous rounds keep more "
                  + "than 80%)" : uo >= TARGET ? "PASS (>= 99%)" : "FAIL (< 99%)"));
        }
      }
    }
    return v.toString();
  }

  /** Whether the bench showed what it is for: a slow link judged, every judged one passed. */
  static boolean passed(List<Arm> arms) {
    String v = verdict(arms);
    return v.contains("PASS") && !v.contains("FAIL")
        && arms.stream().allMatch(a -> a.replay().ok());
  }

  static String csv(List<Arm> arms) {
    StringBuilder csv = new StringBuilder("rate_bits,mode,worker,round,compute_s,wait_s,"
        + "utilisation,bytes_sent,bytes_received,round_s,floor_s\n");
    for (Arm a : arms) {
      for (WorkerRound r : a.rounds()) {
        // The round's wall time: from its commit to the next; its floor at the link's rate.
        double round = (a.commits().get(r.round() + 1).getCommittedAtMs()
            - a.commits().get(r.round()).getCommittedAtMs()) / 1e3;
        csv.append(String.format(Locale.ROOT, "%d,%s,%s,%d,%.4f,%.4f,%.5f,%d,%d,%.3f,%.4f%n",
            a.rate(), a.mode(), r.worker(), r.round(), r.compute(), r.waitSeconds(),
            r.utilisation(), r.sent(), r.received(), round,
            8.0 * (r.sent() + r.received()) / a.rate()));
      }
    }
    return csv.toString();
  }
}
