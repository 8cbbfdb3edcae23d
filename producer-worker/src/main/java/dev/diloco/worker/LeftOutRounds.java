package dev.diloco.worker;

import dev.diloco.schemas.RoundCommit;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The rounds a worker published a pseudo-gradient for that the next commit left out. A worker
 * cannot read the dead-letter topic (its ACLs), but it reads every commit, and the commit lists
 * the workers in every one of its sums: so this is where it learns that its chunks came late or
 * were rejected, and says so.
 */
final class LeftOutRounds {

  private static final Logger LOG = LoggerFactory.getLogger(LeftOutRounds.class);

  private final String workerId;
  private final List<Integer> rounds = new CopyOnWriteArrayList<>();

  LeftOutRounds(String workerId) {
    this.workerId = workerId;
  }

  /**
   * Whether {@code commit} counted this worker's pseudo-gradient of round {@code published}
   * (-1: none yet), when it is the commit of the round after.
   */
  void check(RoundCommit commit, int published) {
    if (published < 0 || commit.getRound() != published + 1) {
      return;
    }
    boolean counted = commit.getContributors().stream()
        .anyMatch(c -> c.getWorkerId().equals(workerId));
    if (!counted) {
      rounds.add(published);
      LOG.warn("worker {}: round {} was committed ({}{}) without this worker's pseudo-gradient "
          + "of round {}: its chunks came late or were rejected ({} of its rounds so far); "
          + "`diloco inspect` shows the dead letters by reason", workerId,
          commit.getRound(), commit.getOutcome(), commit.getReason() == null ? ""
          : ": " + commit.getReason(), published, rounds.size());
    }
  }

  List<Integer> rounds() {
    return List.copyOf(rounds);
  }
}
