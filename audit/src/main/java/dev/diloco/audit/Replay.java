package dev.diloco.audit;

import dev.diloco.audit.RecordedSums.Recorded;
import dev.diloco.audit.RunRecords.Located;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.round.RoundStep;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.core.rules.Verdict;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Re-executes a run's rounds from its log and checks them bit for bit: for each round commit,
 * the reducer's sums are recomputed ({@link ReplayedReduction}: the reducer's own rules and
 * {@link ExactSum}) from the recorded pseudo-gradient chunks, the round is stepped by
 * {@link RoundStep} at the learning rate the commit records, and the result is compared with
 * every published weights chunk, with the commit's SHA-256, and with the optimizer's momentum
 * where the compacted state topic still has it ({@link PublishedRound}). A recorded sum that
 * differs from the recomputed one is explained where one contribution can ({@link Forensics}).
 * Round 0's weights cannot be recomputed (they come from the seed); they are checked against
 * their commit.
 *
 * <p>Each round is judged on its own: the next round starts from the published weights when
 * they match their commit, and from the momentum the recorded sums give, so one bad round does
 * not make every later one look bad.
 */
public final class Replay {

  /** Something that does not check out; {@code chunk} is -1 for the round as a whole. */
  public record Finding(int round, int chunk, String detail) {
    @Override
    public String toString() {
      return "round " + round + (chunk >= 0 ? ", chunk " + chunk : "") + ": " + detail;
    }
  }

  /** One round's verdict: ok when there are no findings. */
  public record RoundResult(int round, RoundOutcome outcome, List<String> contributors,
      long tokens, long pseudoGradientBytes, long weightsBytes, List<Finding> findings) {
    public boolean ok() {
      return findings.isEmpty();
    }
  }

  /** The verdict on rounds {@code from} to {@code to}. */
  public record Report(String runId, int from, int to, List<RoundResult> rounds) {
    public boolean ok() {
      return rounds.stream().allMatch(RoundResult::ok);
    }

    public Optional<Finding> firstFinding() {
      return rounds.stream().flatMap(r -> r.findings().stream()).findFirst();
    }
  }

  private final RunRecords run;
  private final TopicReader reader;
  private final ChunkPlan plan;
  private final ElementCodec codec;
  private final ChunkDecoder decoder;
  private final ReplayedStep stepper;
  /** The state after the previous round: published weights, momentum as the optimizer had it. */
  private float[] theta;
  private float[] momentum;

  private Replay(RunRecords run, TopicReader reader) {
    this.run = run;
    this.reader = reader;
    this.plan = ParameterLayout.chunkPlan(run.model().getLayout());
    this.codec = ElementCodec.of(run.model().getEncoding(), run.model().getBlockSize());
    this.decoder = new ChunkDecoder(plan.chunkElements());
    this.stepper = new ReplayedStep(run, reader, plan, codec, decoder);
  }

  /**
   * Replays rounds {@code from} to {@code to} (inclusive; -1: the newest), starting from the
   * published weights of round {@code from - 1}; {@code onRound} sees each verdict as it is made.
   */
  public static Report replay(RunRecords run, TopicReader reader, int from, int to,
      Consumer<RoundResult> onRound) {
    int last = to < 0 ? run.lastRound() : to;
    if (last < 0) {
      throw new IllegalStateException("run " + run.topics().runId() + " has no committed round");
    }
    if (from < 0 || from > last || last > run.lastRound()) {
      // Past the newest round there is nothing to check, however many rounds it names.
      throw new IllegalArgumentException("rounds " + from + " to " + last + " are not a range of "
          + "run " + run.topics().runId() + ", whose newest committed round is "
          + run.lastRound());
    }
    Replay replay = new Replay(run, reader);
    try {
      replay.startAt(from);
      List<RoundResult> rounds = new ArrayList<>();
      for (int n = from; n <= last; n++) {
        RoundResult result = replay.round(n);
        rounds.add(result);
        onRound.accept(result);
      }
      if (to < 0) {
        // Commits beyond the run's newest round are forged ones: named, one result each.
        run.commits().stream().filter(c -> c.value().getRound() > last)
            .map(c -> c.value().getRound()).distinct().sorted().forEach(n -> {
              RoundResult result = replay.round(n);
              rounds.add(result);
              onRound.accept(result);
            });
      }
      return new Report(run.topics().runId(), from, last, rounds);
    } finally {
      replay.decoder.close();
    }
  }

  /** The state before round {@code from}: its predecessor's published weights and momentum. */
  private void startAt(int from) {
    if (from == 0) {
      return;
    }
    Located<RoundCommit> before = run.commits(from - 1).stream()
        .filter(c -> run.verifies(c.value())).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("round " + (from - 1) + " has no commit, "
            + "so a replay cannot start at round " + from));
    PublishedRound published = PublishedRound.read(run, reader, plan, decoder, before.value());
    if (!published.complete() || !Arrays.equals(Checksums.sha256(published.weights),
        Checksums.sha256Of(before.value()))) {
      throw new IllegalStateException("the published weights of round " + (from - 1) + " do not "
          + "match their commit, so a replay cannot start from them: replay from an earlier round");
    }
    theta = published.weights;
    momentum = new float[theta.length];
    float[] scratch = new float[theta.length];
    // The momentum depends on the sums alone, not on the weights: replay it from the recorded
    // sums, as the optimizer applied them.
    for (int n = 1; n < from; n++) {
      RoundCommit commit = run.commits(n).stream().map(Located::value)
          .filter(run::verifies).findFirst().orElse(null);
      if (commit == null || commit.getOutcome() != RoundOutcome.STEPPED) {
        continue;
      }
      RoundStep step = RoundStep.madeBy(commit);
      for (Recorded s : RecordedSums.of(run, reader, plan, n - 1).applied().values()) {
        step.apply(plan.range(s.chunk()), s.values(), s.contributors().size(), scratch,
            momentum);
      }
    }
  }

  private RoundResult round(int n) {
    List<Finding> findings = new ArrayList<>();
    List<Located<RoundCommit>> commits = new ArrayList<>();
    for (Located<RoundCommit> c : run.commits(n)) {
      // A commit the run's optimizer did not sign is none of its rounds: named, left out.
      if (CommitSignatures.check(run.model(), c.value()) instanceof Verdict.Reject<?> forged) {
        findings.add(new Finding(n, -1, "the commit at offset " + c.at().offset() + ": "
            + forged.detail()));
      } else {
        commits.add(c);
      }
    }
    if (commits.isEmpty()) {
      findings.add(new Finding(n, -1, "the round has no commit"
          + (findings.isEmpty() ? "" : " that verifies")));
      return new RoundResult(n, null, List.of(), 0, 0, 0, findings);
    }
    RoundCommit commit = commits.get(0).value();
    byte[] sha = Checksums.sha256Of(commit);
    for (Located<RoundCommit> other : commits.subList(1, commits.size())) {
      byte[] otherSha = Checksums.sha256Of(other.value());
      findings.add(new Finding(n, -1, "a second commit of the round at offset "
          + other.at().offset() + " (the first is at " + commits.get(0).at().offset() + "), "
          + (Arrays.equals(otherSha, sha) ? "with the same SHA-256" : "with SHA-256 "
          + hex(otherSha) + " where the first has " + hex(sha)) + ": the optimizer commits a "
          + "round once"));
    }
    long weightsBytes = RunRecords.bytes(run.weights(n));
    if (commit.getTotalElements() != plan.totalElements()
        || commit.getChunkCount() != plan.chunkCount()) {
      findings.add(new Finding(n, -1, "the commit says " + commit.getTotalElements()
          + " elements in " + commit.getChunkCount() + " chunks, the model "
          + plan.totalElements() + " in " + plan.chunkCount()));
      return new RoundResult(n, commit.getOutcome(), List.of(), 0, 0, 0, findings);
    }
    RoundOutcome outcome = commit.getOutcome();
    boolean initial = outcome == RoundOutcome.INITIAL;
    if ((n == 0) != initial || theta == null && !initial) {
      findings.add(new Finding(n, -1, "the commit's outcome is " + outcome + "; round 0, and only "
          + "round 0, is INITIAL"));
      return new RoundResult(n, outcome, List.of(), 0, 0, weightsBytes, findings);
    }
    PublishedRound published = PublishedRound.read(run, reader, plan, decoder, commit);
    ReplayedStep.Stepped expected;
    long pseudoGradientBytes = 0;
    if (initial) { // the seed's weights: checked against the commit below
      expected = new ReplayedStep.Stepped(published.weights,
          new float[published.weights.length], List.of());
    } else if (outcome == RoundOutcome.REPUBLISHED) {
      expected = new ReplayedStep.Stepped(theta.clone(), momentum.clone(), List.of());
    } else if (outcome == RoundOutcome.STEPPED) {
      expected = stepper.step(n - 1, commit, theta, momentum, findings);
      pseudoGradientBytes = RunRecords.bytes(run.pseudoGradients(n - 1));
      List<String> committed = commit.getContributors().stream()
          .map(Contribution::getWorkerId).sorted().toList();
      if (!committed.equals(expected.contributors())) {
        findings.add(new Finding(n, -1, "the commit names contributors " + committed
            + ", the round's sums " + expected.contributors()));
      }
    } else {
      findings.add(new Finding(n, -1, "the commit's outcome " + outcome + " is not one this "
          + "build knows"));
      return new RoundResult(n, outcome, List.of(), 0, 0, 0, findings);
    }
    published.compare(commit, expected.theta(), findings);
    PublishedRound.compareMomentum(run, reader, plan, decoder, n, expected.momentum(), findings);
    byte[] replayed = Checksums.sha256(expected.theta());
    if (!Arrays.equals(replayed, sha)) {
      findings.add(new Finding(n, -1, "the commit's SHA-256 " + hex(sha)
          + " is not the replayed weights' " + hex(replayed)));
    }
    boolean publishedHolds = published.complete()
        && Arrays.equals(Checksums.sha256(published.weights), sha);
    theta = publishedHolds ? published.weights : expected.theta();
    momentum = expected.momentum();
    findings.sort(Comparator.comparingInt(f -> f.chunk() < 0 ? Integer.MAX_VALUE : f.chunk()));
    long tokens = commit.getContributors().stream().mapToLong(Contribution::getTokens).sum();
    return new RoundResult(n, outcome, expected.contributors(), tokens, pseudoGradientBytes,
        weightsBytes, findings);
  }

  private static String hex(byte[] bytes) {
    return HexFormat.of().formatHex(bytes).substring(0, Math.min(16, bytes.length * 2)) + "…";
  }
}
