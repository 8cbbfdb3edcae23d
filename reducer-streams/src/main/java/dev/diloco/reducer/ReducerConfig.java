package dev.diloco.reducer;

import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.rules.NormBound;
import dev.diloco.schemas.ModelDescription;
import java.time.Duration;
import java.util.Objects;

/**
 * What the reducer of one run needs to know. The round's deadline is not here: it is the run's,
 * in its description ({@link dev.diloco.core.rules.RoundDeadline}), which the optimizer keeps too.
 *
 * @param runId the run
 * @param quorum the fewest contributors a chunk's sum may have when the round's deadline passes
 * @param checkEvery how often the deadline is checked (wall-clock)
 * @param chunkPartitions partitions of the pseudo-gradient topic
 * @param maxChunkNorm the largest L2 norm a contribution's chunk may have; {@link #AUTO_NORM}
 *     (the default): the bound on every value that the run's own settings give
 *     ({@link NormBound#of}); 0 for no bound. A chunk beyond it (a diverged or malicious
 *     worker) is rejected as NORM_BOUND_EXCEEDED.
 * @param memberGrace the least a sum with a quorum waits for a member that has sent nothing
 *     this round (a worker gone, a forged JOIN) before the deadline ({@link Deadline})
 * @param ownTopicsOnly whether the members of a round are only the workers that announce
 *     themselves on topics of their own ({@link Members}): on a cluster with ACLs, where only a
 *     worker's principal writes its topic, a JOIN on the shared topic, which any worker may
 *     write, then costs nothing
 */
public record ReducerConfig(String runId, int quorum, Duration checkEvery,
    int chunkPartitions, double maxChunkNorm, Duration memberGrace, boolean ownTopicsOnly) {

  public static final Duration DEFAULT_CHECK_EVERY = Duration.ofSeconds(1);
  /** The least a sum waits for a silent member once it has a quorum, by default. */
  public static final int DEFAULT_MEMBER_GRACE_SECONDS = 120;
  public static final Duration DEFAULT_MEMBER_GRACE =
      Duration.ofSeconds(DEFAULT_MEMBER_GRACE_SECONDS);
  /** {@code maxChunkNorm}: the bound the run's own settings give. */
  public static final double AUTO_NORM = -1;

  public ReducerConfig {
    new RunTopics(runId); // validates the id
    if (quorum < 1) {
      throw new IllegalArgumentException("quorum must be >= 1, got " + quorum);
    }
    Objects.requireNonNull(checkEvery, "checkEvery");
    if (maxChunkNorm != AUTO_NORM && (!(maxChunkNorm >= 0) || Double.isInfinite(maxChunkNorm))) {
      throw new IllegalArgumentException("the chunk norm bound must be >= 0 (0: none) or AUTO_NORM,"
          + " got " + maxChunkNorm);
    }
    if (chunkPartitions < 1) {
      throw new IllegalArgumentException("chunk partitions must be >= 1, got " + chunkPartitions);
    }
    if (memberGrace == null || memberGrace.isNegative()) {
      throw new IllegalArgumentException("member grace must be >= 0, got " + memberGrace);
    }
    if (checkEvery.isNegative() || checkEvery.isZero()) {
      throw new IllegalArgumentException("deadline check interval must be positive, got "
          + checkEvery);
    }
  }

  /** Believing the shared membership topic for workers without a topic of their own. */
  public ReducerConfig(String runId, int quorum, Duration checkEvery, int chunkPartitions,
      double maxChunkNorm, Duration memberGrace) {
    this(runId, quorum, checkEvery, chunkPartitions, maxChunkNorm, memberGrace, false);
  }

  /** With the default grace for silent members. */
  public ReducerConfig(String runId, int quorum, Duration checkEvery, int chunkPartitions,
      double maxChunkNorm) {
    this(runId, quorum, checkEvery, chunkPartitions, maxChunkNorm,
        DEFAULT_MEMBER_GRACE);
  }

  /** With the bound on the chunks that the run's own settings give. */
  public ReducerConfig(String runId, int quorum, Duration checkEvery, int chunkPartitions) {
    this(runId, quorum, checkEvery, chunkPartitions, AUTO_NORM);
  }

  /** The bound on the chunks of a run described by {@code model}. */
  public NormBound normBound(ModelDescription model) {
    if (maxChunkNorm == AUTO_NORM) {
      return NormBound.of(model);
    }
    return maxChunkNorm == 0 ? NormBound.NONE : NormBound.ofNorm(maxChunkNorm);
  }

  public RunTopics topics() {
    return new RunTopics(runId);
  }
}
