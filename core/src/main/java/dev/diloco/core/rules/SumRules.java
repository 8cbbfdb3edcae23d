package dev.diloco.core.rules;

import dev.diloco.core.codec.Checksums;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ReducedChunk;
import java.util.function.IntPredicate;

/**
 * What makes a reducer's sum one the outer optimizer may apply: the one implementation, called
 * by the optimizer on every sum it reads and by the replay on every recorded sum. In this
 * order, each failure a rejection with its reason: it is of this run (RUN_MISMATCH) and of the
 * open round (ROUND_NOT_OPEN); its chunk has no sum applied yet this round (DUPLICATE); it
 * names its contributors (MALFORMED_RECORD); its header agrees with the chunk plan
 * (LAYOUT_MISMATCH, INDEX_OUT_OF_RANGE, WRONG_LENGTH); its bytes have its CRC32C
 * (CRC_MISMATCH), decode to its elements (UNKNOWN_ENCODING, WRONG_LENGTH, MALFORMED_RECORD)
 * and are all finite (NON_FINITE), none beyond its contributors times the run's bound on a
 * worker's values (NORM_BOUND_EXCEEDED). Not thread-safe: it reuses one buffer for the values.
 */
public final class SumRules {

  private final String runId;
  private final ChunkPlan plan;
  private final NormBound bound;
  private final double[] values;

  /**
   * The rules of run {@code runId}'s sums, chunked as {@code plan}; {@code bound}: the run's
   * bound on each worker's values ({@link NormBound#of}), so that a sum of k workers holds no
   * value beyond k times its element bound.
   */
  public SumRules(String runId, ChunkPlan plan, NormBound bound) {
    this.runId = runId;
    this.plan = plan;
    this.bound = bound;
    this.values = new double[plan.chunkElements()];
  }

  public ChunkPlan plan() {
    return plan;
  }

  /**
   * The verdict on {@code sum} for the optimizer of round {@code openRound}, whose chunks
   * {@code applied} accepts have had their sum applied already.
   */
  public Verdict<CheckedSum> check(ReducedChunk sum, int openRound, IntPredicate applied) {
    if (!sum.getRunId().equals(runId)) {
      return Verdict.reject(DeadLetterReason.RUN_MISMATCH, "the sum is of run "
          + sum.getRunId() + ", this optimizer's run is " + runId);
    }
    if (sum.getRound() != openRound) {
      return Verdict.reject(DeadLetterReason.ROUND_NOT_OPEN, "round " + sum.getRound()
          + " is not open: the open round is " + openRound);
    }
    if (applied.test(sum.getChunkIndex())) {
      return Verdict.reject(DeadLetterReason.DUPLICATE, "the sum of chunk "
          + sum.getChunkIndex() + " of round " + openRound + " was applied already");
    }
    if (sum.getContributors().isEmpty()) {
      return Verdict.reject(DeadLetterReason.MALFORMED_RECORD, "a sum with no contributors");
    }
    try {
      ChunkRange range = plan.check(sum.getChunkIndex(), sum.getChunkCount(),
          sum.getElementOffset(), sum.getElementCount());
      int crc = Checksums.crc32c(sum.getSum());
      if (crc != sum.getCrc32c()) {
        return Verdict.reject(DeadLetterReason.CRC_MISMATCH, String.format("the sum's CRC32C is "
            + "%08x, the record says %08x", crc, sum.getCrc32c()));
      }
      ExactSum.decode(sum.getSumEncoding(), sum.getSum(), range.count(), values, 0);
      // A huge but finite sum would throw the weights so far that every later round fails.
      double most = bound.maxElement() * sum.getContributors().size();
      for (int i = 0; i < range.count(); i++) {
        if (!Double.isFinite(values[i])) {
          return Verdict.reject(DeadLetterReason.NON_FINITE, "element " + i + " of the sum is "
              + values[i]);
        }
        if (most > 0 && Math.abs(values[i]) > most) {
          return Verdict.reject(DeadLetterReason.NORM_BOUND_EXCEEDED, "element " + i + " of the "
              + "sum is " + values[i] + ", beyond " + sum.getContributors().size()
              + " contributors times the bound " + bound.maxElement() + " on every value");
        }
      }
      return Verdict.accept(new CheckedSum(sum, range, values));
    } catch (ChunkRejectedException e) {
      return Verdict.of(e);
    }
  }
}
