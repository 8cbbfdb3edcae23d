package dev.diloco.audit;

import dev.diloco.audit.RunRecords.Entry;
import dev.diloco.audit.TopicReader.Location;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.RecordPlace;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.round.RoundSums;
import dev.diloco.core.rules.CheckedSum;
import dev.diloco.core.rules.NormBound;
import dev.diloco.core.rules.Records;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ReducedChunk;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The reducer's sums of one round as the optimizer applied them: the round's sum records, in
 * log order, offered to {@link RoundSums} (the optimizer's own choice); the others it rejected
 * too. A later sum of a chunk whose bytes differ from the
 * applied one is a finding: the reducer emits one sum per chunk. Fed one record at a time.
 */
final class RecordedSums {

  /** A sum as the optimizer applied it: its contributors and values, and where it lies. */
  record Recorded(int chunk, List<Contribution> contributors, double[] values,
      ReducedChunk record, Location at) {}

  private final int round;
  private final RoundSums chosen;
  private final AvroSerde<ReducedChunk> serde = AvroSerde.of(ReducedChunk.class);
  private final Map<Integer, Recorded> applied = new TreeMap<>();
  private final List<Replay.Finding> findings = new ArrayList<>();

  RecordedSums(String runId, ChunkPlan plan, NormBound bound, int round) {
    this.round = round;
    this.chosen = new RoundSums(runId, plan, bound, round);
  }

  /**
   * The applied sums of round {@code r} in {@code run}, by chunk; findings are of commit r + 1.
   * A sum the optimizer refused live (its dead letter says where it lies) is not offered: it
   * says it is of round r, but came while the round before was open, say, and the optimizer
   * read past it; the optimizer's own record decides which sums it could take.
   */
  static RecordedSums of(RunRecords run, TopicReader reader, ChunkPlan plan, int r) {
    RecordedSums sums = new RecordedSums(run.topics().runId(), plan, NormBound.of(run.model()),
        r);
    java.util.Set<RecordPlace> refused = run.refusedByOptimizer().keySet();
    reader.fetch(run.sums(r).stream().map(Entry::at)
        .filter(at -> !refused.contains(new RecordPlace(at.topic(), at.partition(), at.offset())))
        .toList(), record -> sums.add(Location.of(record), record.value()));
    return sums;
  }

  /** Takes the next sum record of the round, read from {@code at}; returns its verdict. */
  Verdict<CheckedSum> add(Location at, byte[] value) {
    Verdict<ReducedChunk> decoded = Records.decode(serde, value);
    Verdict<CheckedSum> checked = decoded.then(chosen::offer);
    if (checked instanceof Verdict.Accept<CheckedSum> ok) {
      CheckedSum s = ok.value();
      applied.put(s.range().index(), new Recorded(s.range().index(), s.sum().getContributors(),
          Arrays.copyOf(s.values(), s.range().count()), s.sum(), at));
    } else if (checked instanceof Verdict.Reject<CheckedSum> bad
        && bad.reason() == DeadLetterReason.DUPLICATE) {
      ReducedChunk again = decoded.value();
      Recorded first = applied.get(again.getChunkIndex());
      if (!first.record().getSum().equals(again.getSum())) {
        findings.add(new Replay.Finding(round + 1, again.getChunkIndex(), "a second sum of round "
            + round + " at partition " + at.partition() + ", offset " + at.offset() + " differs "
            + "from the one applied (offset " + first.at().offset() + ")"));
      }
    }
    // Any other rejection: the optimizer rejected it too (dead letter); not part of the round.
    return checked;
  }

  /** The applied sum of each chunk, by chunk. */
  Map<Integer, Recorded> applied() {
    return applied;
  }

  /** The round's contributors, as its commit should list them ({@link RoundSums}). */
  List<Contribution> contributors() {
    return chosen.contributors();
  }

  /** Sums that contradict the applied ones. */
  List<Replay.Finding> findings() {
    return findings;
  }
}
