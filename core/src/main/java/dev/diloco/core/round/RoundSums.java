package dev.diloco.core.round;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.rules.CheckedSum;
import dev.diloco.core.rules.NormBound;
import dev.diloco.core.rules.SumRules;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.ReducedChunk;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The sums a round uses: offered round r's sum records in the order they are read, it takes
 * the first of each chunk that passes {@link SumRules} and refuses every other (a second sum of
 * a chunk is a DUPLICATE). The one piece of code that chooses them, for the optimizer as it
 * reads the sums, for a worker that steps from the sums, and for the replay, so all three step
 * the same round from the same sums. Not thread-safe; an accepted sum's values are valid until
 * the next offer (copy them to keep them).
 */
public final class RoundSums {

  private final SumRules rules;
  private final int round;
  private final BitSet taken;
  /** The contributors of each sum taken. */
  private final List<List<Contribution>> contributors = new ArrayList<>();

  /**
   * Chooses the sums of {@code round} of run {@code runId}, whose chunks {@code plan} has and
   * whose workers' values {@code bound} bounds ({@code NormBound.of} the run's description).
   */
  public RoundSums(String runId, ChunkPlan plan, NormBound bound, int round) {
    this.rules = new SumRules(runId, plan, bound);
    this.round = round;
    this.taken = new BitSet(plan.chunkCount());
  }

  /** Takes {@code sum} if it is the first valid sum of its chunk this round; else why not. */
  public Verdict<CheckedSum> offer(ReducedChunk sum) {
    Verdict<CheckedSum> checked = rules.check(sum, round, taken::get);
    if (checked.accepted()) {
      taken.set(checked.value().range().index());
      contributors.add(sum.getContributors());
    }
    return checked;
  }

  /** Whether every chunk's sum has been taken: the round can step. */
  public boolean complete() {
    return taken.cardinality() == rules.plan().chunkCount();
  }

  /**
   * The round's contributors, as its commit lists them: the workers in every sum taken, in
   * ascending worker-id order, each with what its first sum says of it. A worker missing from
   * one sum (its chunk was refused, or came late) is not a contributor of the round.
   */
  public List<Contribution> contributors() {
    Map<String, Contribution> first = new TreeMap<>();
    Map<String, Integer> in = new HashMap<>();
    for (List<Contribution> sum : contributors) {
      for (Contribution c : sum) {
        first.putIfAbsent(c.getWorkerId(), c);
        in.merge(c.getWorkerId(), 1, Integer::sum);
      }
    }
    List<Contribution> inEvery = new ArrayList<>();
    first.forEach((worker, c) -> {
      if (in.get(worker) == contributors.size()) {
        inEvery.add(c);
      }
    });
    return inEvery;
  }
}
