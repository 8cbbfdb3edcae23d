package dev.diloco.audit;

import dev.diloco.audit.RecordedSums.Recorded;
import dev.diloco.audit.RunRecords.Entry;
import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.kafka.RecordPlace;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.round.RoundStep;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.RoundCommit;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * One round of a replay: round r's reduction recomputed from the recorded pseudo-gradient chunks
 * ({@link ReplayedReduction}: the reducer's own rules and {@link ExactSum}) and stepped by
 * {@link RoundStep} at the learning rate the commit records, beside the recorded sums as the
 * optimizer took them ({@link RecordedSums}); every disagreement between the two, or with what
 * the sums say they hold, is a finding.
 */
final class ReplayedStep {

  private final RunRecords run;
  private final TopicReader reader;
  private final ChunkPlan plan;
  private final ElementCodec codec;
  private final ChunkDecoder decoder;
  private final Map<RecordPlace, DeadLetter> refused;

  ReplayedStep(RunRecords run, TopicReader reader, ChunkPlan plan, ElementCodec codec,
      ChunkDecoder decoder) {
    this.run = run;
    this.reader = reader;
    this.plan = plan;
    this.codec = codec;
    this.decoder = decoder;
    this.refused = run.refusedByReducer();
  }

  /** A round's replayed weights, the momentum as the optimizer had it, and who contributed. */
  record Stepped(float[] theta, float[] momentum, List<String> contributors) {}

  /**
   * Round {@code r}'s reduction and outer step, from the state after round r ({@code theta},
   * {@code momentum}; neither changes): the weights from the recomputed sums (what the round
   * should be), the momentum from the recorded ones (what the optimizer carried on with).
   */
  Stepped step(int r, RoundCommit commit, float[] theta, float[] momentum,
      List<Replay.Finding> findings) {
    int n = r + 1;
    RoundStep step = RoundStep.madeBy(commit);
    RecordedSums sums = RecordedSums.of(run, reader, plan, r);
    findings.addAll(sums.findings());
    Map<Integer, Recorded> recorded = sums.applied();
    Map<Integer, Set<String>> named = new TreeMap<>();
    recorded.forEach((c, s) -> named.put(c, new TreeSet<>(s.contributors().stream()
        .map(Contribution::getWorkerId).toList())));
    float[] expected = theta.clone();
    float[] expectedMomentum = momentum.clone();
    float[] scratch = theta.clone();
    float[] carried = momentum.clone();
    try (ReplayedReduction reduction = new ReplayedReduction(run.topics(), r, plan, codec,
        run.chunkPartitions(), named, refused)) {
      reader.fetch(run.pseudoGradients(r).stream()
          .filter(e -> reduction.wanted(e.chunk(), e.worker())).map(Entry::at).toList(),
          record -> reduction.add(TopicReader.Location.of(record), record.value()));
      for (int c = 0; c < plan.chunkCount(); c++) {
        ChunkRange range = plan.range(c);
        Recorded sum = recorded.get(c);
        ExactSum exact = reduction.sums.get(c);
        if (sum == null) {
          findings.add(new Replay.Finding(n, c, "no valid sum of round " + r + " for this chunk in "
              + run.topics().reduced()));
        } else {
          checkContributions(n, c, sum, exact, reduction, findings);
        }
        if (exact == null) {
          if (sum != null) {
            findings.add(new Replay.Finding(n, c, "none of the pseudo-gradient chunks the sum "
                + "names is in " + run.topics().pseudoGradients()));
          }
          continue;
        }
        double[] recomputed = new double[range.count()];
        exact.sumTo(recomputed, 0);
        int count = sum != null ? sum.contributors().size() : exact.contributors().size();
        step.apply(range, recomputed, count, expected, expectedMomentum);
        if (sum != null) {
          if (exact.contributors().size() == sum.contributors().size()) {
            compareSums(n, c, sum.values(), recomputed, reduction, findings);
          }
          step.apply(range, sum.values(), count, scratch, carried);
        } else {
          System.arraycopy(expectedMomentum, (int) range.offset(), carried, (int) range.offset(),
              range.count());
        }
      }
    }
    return new Stepped(expected, carried, sums.contributors().stream()
        .map(Contribution::getWorkerId).toList());
  }

  /** Did the log still hold, valid, each contribution the reducer says it summed? */
  private void checkContributions(int n, int c, Recorded sum, ExactSum exact,
      ReplayedReduction reduction, List<Replay.Finding> findings) {
    for (Contribution named : sum.contributors()) {
      String key = ReplayedReduction.key(c, named.getWorkerId());
      if (exact != null && exact.contributors().contains(named.getWorkerId())) {
        if (reduction.tokens.get(key) != named.getTokens()) {
          findings.add(new Replay.Finding(n, c, "the sum records " + named.getTokens()
              + " tokens for worker " + named.getWorkerId() + ", its chunk "
              + reduction.tokens.get(key)));
        }
        continue;
      }
      ReplayedReduction.Rejected why = reduction.rejected.get(key);
      findings.add(new Replay.Finding(n, c, "the reducer summed a chunk of worker "
          + named.getWorkerId() + (why != null
              ? " that fails its checks now (" + why + "): it was changed after it was summed"
              : " that is not in " + run.topics().pseudoGradients())));
    }
  }

  private void compareSums(int n, int c, double[] recorded, double[] recomputed,
      ReplayedReduction reduction, List<Replay.Finding> findings) {
    int first = -1;
    int differing = 0;
    for (int i = 0; i < recorded.length; i++) {
      if (Double.doubleToRawLongBits(recorded[i]) != Double.doubleToRawLongBits(recomputed[i])) {
        differing++;
        first = first < 0 ? i : first;
      }
    }
    if (differing == 0) {
      return;
    }
    Map<String, TopicReader.Location> used = new TreeMap<>();
    reduction.used.forEach((key, at) -> {
      if (key.startsWith(c + "/")) {
        used.put(key, at);
      }
    });
    findings.add(new Replay.Finding(n, c, "the sum recomputed from the pseudo-gradient chunks "
        + "differs from the reducer's at " + differing + " of " + recorded.length + " elements "
        + "(first: element " + first + ", recomputed " + recomputed[first] + ", recorded "
        + recorded[first] + "); " + Forensics.explain(reader, decoder, codec.encoding(), used,
        recorded, recomputed)));
  }
}
