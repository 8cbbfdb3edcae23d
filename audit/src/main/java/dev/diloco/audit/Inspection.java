package dev.diloco.audit;

import dev.diloco.audit.RunRecords.Located;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a run's log holds, round by round, from its index alone (no payload is read): each
 * commit with its outcome, contributors, tokens and timing, the bytes each topic took for it,
 * and the dead letters of its round by reason.
 *
 * <p>Row N is commit N, made from the pseudo-gradients the workers computed from round N-1's
 * weights; so its bytes and dead letters are those of round N-1's chunks. A round the workers
 * are still on (chunks but no commit) is listed as open. A commit that does not verify with the
 * run's key is none of its rounds: listed apart, in {@code unverifiedCommits}.
 */
public record Inspection(String runId, Model model, List<Row> rounds, Totals totals,
    Map<String, Integer> unreadableRecords, List<String> unverifiedCommits) {

  /** {@code blockSize}: elements per scale of INT8 and INT4, 0 for float encodings. */
  public record Model(String family, long parameters, int tensors, int chunks,
      String encoding, int blockSize, boolean errorFeedback, String compression,
      int innerSteps, String overlap, long roundTimeoutSeconds, int vocabulary,
      String tokenizerSha256, String dataSha256) {}

  /** One commit (or the open round, with {@code outcome} "OPEN"). */
  public record Row(int round, String outcome, String committedAt, Double roundSeconds,
      List<String> contributors, long tokens, int pseudoGradientChunks,
      long pseudoGradientBytes, long sumBytes, long weightsBytes, String weightsSha256,
      Map<String, Integer> deadLetters) {}

  public record Totals(int commits, long tokens, long pseudoGradientBytes, long sumBytes,
      long weightsBytes, Map<String, Integer> deadLetters) {}

  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneOffset.UTC);

  public static Inspection of(RunRecords run) {
    ModelDescription d = run.model();
    ParameterLayout layout = ParameterLayout.fromSpec(d.getLayout());
    Model model = new Model(d.getFamily(), layout.totalElements(), layout.tensors().size(),
        layout.chunks(d.getLayout().getChunkElements()).chunkCount(), d.getEncoding().name(),
        d.getBlockSize(), d.getErrorFeedback(), d.getCompression().name(), d.getInnerSteps(),
        d.getOverlap().name(), d.getRoundTimeoutMs() / 1000,
        d.getArchitecture().getVocabSize(), d.getTokenizerSha256(), d.getDataSha256());
    Map<Integer, Map<String, Integer>> letters = new TreeMap<>();
    Map<String, Integer> allLetters = new TreeMap<>();
    for (Located<DeadLetter> l : run.deadLetters()) {
      String reason = l.value().getReason().name();
      allLetters.merge(reason, 1, Integer::sum);
      // A letter names the round of the chunk it rejects; that chunk was for the next commit.
      int row = l.value().getRound() == null ? -1 : l.value().getRound() + 1;
      letters.computeIfAbsent(row, r -> new TreeMap<>()).merge(reason, 1, Integer::sum);
    }
    List<Row> rows = new ArrayList<>();
    List<String> unverified = new ArrayList<>();
    for (Located<RoundCommit> located : run.commits()) {
      RoundCommit c = located.value();
      if (!run.verifies(c)) {
        unverified.add("round " + c.getRound() + " at offset " + located.at().offset());
        continue;
      }
      int n = c.getRound();
      rows.add(new Row(n, c.getOutcome().name(),
          TIME.format(Instant.ofEpochMilli(c.getCommittedAtMs())),
          n == 0 ? null : (c.getCommittedAtMs() - c.getRoundOpenedAtMs()) / 1000.0,
          c.getContributors().stream().map(Contribution::getWorkerId).sorted().toList(),
          c.getContributors().stream().mapToLong(Contribution::getTokens).sum(),
          run.pseudoGradients(n - 1).size(), RunRecords.bytes(run.pseudoGradients(n - 1)),
          RunRecords.bytes(run.sums(n - 1)), RunRecords.bytes(run.weights(n)),
          HexFormat.of().formatHex(Checksums.sha256Of(c)), letters.getOrDefault(n, Map.of())));
    }
    int open = run.lastRound();
    if (!run.pseudoGradients(open).isEmpty()) {
      rows.add(new Row(open + 1, "OPEN", null, null, run.pseudoGradients(open).stream()
          .map(RunRecords.Entry::worker).distinct().sorted().toList(), 0,
          run.pseudoGradients(open).size(), RunRecords.bytes(run.pseudoGradients(open)),
          RunRecords.bytes(run.sums(open)), 0, null, letters.getOrDefault(open + 1, Map.of())));
    }
    Totals totals = new Totals(run.commits().size() - unverified.size(),
        rows.stream().mapToLong(Row::tokens).sum(),
        rows.stream().mapToLong(Row::pseudoGradientBytes).sum(),
        rows.stream().mapToLong(Row::sumBytes).sum(),
        rows.stream().mapToLong(Row::weightsBytes).sum(), allLetters);
    return new Inspection(run.topics().runId(), model, rows, totals, run.unreadable(),
        unverified);
  }

  /** The rounds as a text table, with the totals and what the log holds that is not a round. */
  public String table() {
    StringBuilder out = new StringBuilder();
    out.append(String.format("run %s: %s model, %,d parameters in %d tensors and %d chunks, "
        + "%s pseudo-gradients (%s%s%s), H = %d%s, rounds close %d s after their commit%n",
        runId, model.family(), model.parameters(),
        model.tensors(), model.chunks(), model.encoding(),
        model.blockSize() > 0 ? "blocks of " + model.blockSize() + ", " : "",
        model.errorFeedback() ? "error feedback, " : "", model.compression(),
        model.innerSteps(), model.overlap().equals("NONE") ? ""
            : ", rounds overlapped (" + model.overlap().toLowerCase(java.util.Locale.ROOT) + ")",
        model.roundTimeoutSeconds()));
    out.append(model.tokenizerSha256() == null ? String.format("reads bytes (vocabulary %d)%n",
        model.vocabulary()) : String.format("reads tokens: vocabulary %,d, tokenizer SHA-256 "
        + "%s, data manifest SHA-256 %s%n", model.vocabulary(), model.tokenizerSha256(),
        model.dataSha256() == null ? "(none)" : model.dataSha256()));
    String format = "%5s  %-11s  %-19s  %7s  %-24s  %10s  %14s  %12s  %12s  %s%n";
    out.append(String.format(format, "round", "outcome", "committed (UTC)", "seconds",
        "contributors", "tokens", "pseudo-grad B", "sums B", "weights B", "dead letters"));
    for (Row r : rounds) {
      out.append(String.format(format, r.round(), r.outcome(),
          r.committedAt() == null ? "-" : r.committedAt(),
          r.roundSeconds() == null ? "-" : String.format("%.1f", r.roundSeconds()),
          r.contributors().isEmpty() ? "-" : String.join(",", r.contributors()),
          String.format("%,d", r.tokens()), String.format("%,d", r.pseudoGradientBytes()),
          String.format("%,d", r.sumBytes()), String.format("%,d", r.weightsBytes()),
          letters(r.deadLetters())));
    }
    out.append(String.format(format, "total", totals.commits() + " commits", "", "", "",
        String.format("%,d", totals.tokens()), String.format("%,d", totals.pseudoGradientBytes()),
        String.format("%,d", totals.sumBytes()), String.format("%,d", totals.weightsBytes()),
        letters(totals.deadLetters())));
    if (!unverifiedCommits.isEmpty()) {
      out.append("commits that do not verify with the run's key (not its optimizer's): ")
          .append(String.join(", ", unverifiedCommits)).append(System.lineSeparator());
    }
    if (!unreadableRecords.isEmpty()) {
      out.append("records that do not decode or belong to another run: ")
          .append(unreadableRecords).append(System.lineSeparator());
    }
    return out.toString();
  }

  private static String letters(Map<String, Integer> byReason) {
    if (byReason.isEmpty()) {
      return "-";
    }
    List<String> parts = new ArrayList<>();
    byReason.forEach((reason, count) -> parts.add(reason + ":" + count));
    return String.join(" ", parts);
  }
}
