package dev.diloco.core.rules;

import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.TensorEncoding;
import java.nio.ByteBuffer;

/**
 * What makes a pseudo-gradient chunk one that may enter a sum ("nothing bad enters a sum": the
 * core README's invariants): the one implementation, called by the reducer on every chunk it
 * reads and by the replay on every chunk it recomputes a sum from. In this order, each failure
 * a rejection with its reason:
 *
 * <ol>
 *   <li>on a worker's own topic, the chunk names that worker (PRINCIPAL_MISMATCH);
 *   <li>it is of this run (RUN_MISMATCH);
 *   <li>its round is the open one (ROUND_NOT_OPEN before the first commit or for a later round;
 *       LATE for an earlier round, or a chunk whose sum was emitted or whose deadline passed);
 *       a chunk of the next round waits for its round's commit, which it may have overtaken,
 *       once it has passed the checks of 4 to 6 (the layout is the run's, whatever the round);
 *   <li>its header agrees with the run's chunk plan (LAYOUT_MISMATCH, INDEX_OUT_OF_RANGE,
 *       WRONG_LENGTH), it came on its chunk's partition (WRONG_PARTITION), and its encoding
 *       agrees with the run's (UNKNOWN_ENCODING, UNKNOWN_COMPRESSION, LAYOUT_MISMATCH);
 *   <li>its payload decodes to exactly its elements, with its CRC32C, all finite, scales and
 *       codes in range (WRONG_LENGTH, MALFORMED_RECORD, CRC_MISMATCH, NON_FINITE,
 *       SCALE_OUT_OF_RANGE, CODE_OUT_OF_RANGE);
 *   <li>its values are within the run's {@link NormBound} (NORM_BOUND_EXCEEDED);
 *   <li>its worker is a member of the round; if not (yet), the verdict is to wait
 *       (WORKER_NOT_IN_ROUND if it never joins).
 * </ol>
 *
 * That a worker counts once per sum is the sum's own rule ({@code ExactSum.add}). Not
 * thread-safe: it reuses one decoder.
 */
public final class ChunkRules implements AutoCloseable {

  private final RunTopics topics;
  private ChunkDecoder decoder;
  private float[] values = new float[0];

  /** The rules of run {@code topics}. */
  public ChunkRules(RunTopics topics) {
    this.topics = topics;
  }

  /**
   * The verdict on {@code chunk}, read from {@code topic}, while {@code window} is the run's
   * open round (null: the run has not started, or has no committed round yet).
   */
  public Verdict<CheckedChunk> check(String topic, int partition, PseudoGradientChunk chunk,
      RoundWindow window) {
    Verdict<PseudoGradientChunk> round = Origin.check(topics, topic, "chunk",
        chunk.getWorkerId(), chunk).then(this::ofThisRun).then(c -> inOpenRound(c, window));
    if (round instanceof Verdict.Wait<PseudoGradientChunk> next) {
      // What waits for its round's commit is kept whole until then: only a chunk the layout,
      // the codec and the bound take (one per index, of the run's length) may wait.
      return payload(partition, chunk, window) instanceof Verdict.Reject<CheckedChunk> bad
          ? bad : new Verdict.Wait<>(next.reason(), next.why());
    }
    return round
        .then(c -> payload(partition, c, window))
        .then(c -> window.member().test(chunk.getWorkerId()) ? Verdict.accept(c)
            : new Verdict.Wait<>(DeadLetterReason.WORKER_NOT_IN_ROUND, "worker "
                + chunk.getWorkerId() + " has not joined round " + chunk.getRound()));
  }

  private Verdict<PseudoGradientChunk> ofThisRun(PseudoGradientChunk chunk) {
    return chunk.getRunId().equals(topics.runId()) ? Verdict.accept(chunk)
        : Verdict.reject(DeadLetterReason.RUN_MISMATCH, "the chunk is of run "
            + chunk.getRunId() + ", this reducer's run is " + topics.runId());
  }

  /** The round rules: the chunk is for the open round and its sum still open. */
  private static Verdict<PseudoGradientChunk> inOpenRound(PseudoGradientChunk chunk,
      RoundWindow window) {
    int round = chunk.getRound();
    int index = chunk.getChunkIndex();
    if (window == null) {
      return Verdict.reject(DeadLetterReason.ROUND_NOT_OPEN, "round " + round
          + " is not open: the run has no committed round yet");
    }
    if (round < window.round()) {
      return Verdict.reject(DeadLetterReason.LATE, "round " + round + ", chunk " + index
          + " is closed: the open round is " + window.round());
    }
    if (round == window.round() + 1) {
      // A worker sends round r + 1 only after reading its commit: the commit is on its way to
      // this reducer, which may see the chunk first.
      return new Verdict.Wait<>(DeadLetterReason.ROUND_NOT_OPEN, "round " + round
          + " is not open here yet: the open round is " + window.round());
    }
    if (round > window.round()) {
      return Verdict.reject(DeadLetterReason.ROUND_NOT_OPEN, "round " + round
          + " is not open: the open round is " + window.round());
    }
    if (window.closed().test(index)) {
      return Verdict.reject(DeadLetterReason.LATE, "round " + round + ", chunk " + index
          + " is closed: its sum was emitted or its deadline passed");
    }
    return Verdict.accept(chunk);
  }

  /**
   * The payload rules: layout, partition, encoding, CRC, values, bound. The layout's and the
   * codec's checks below throw their rejection; this is where it becomes a verdict.
   */
  private Verdict<CheckedChunk> payload(int partition, PseudoGradientChunk chunk,
      RoundWindow window) {
    try {
      return Verdict.accept(checkedPayload(partition, chunk, window));
    } catch (ChunkRejectedException e) {
      return Verdict.of(e);
    }
  }

  private CheckedChunk checkedPayload(int partition, PseudoGradientChunk chunk,
      RoundWindow window) {
    ChunkPlan plan = window.plan();
    ChunkRange range = plan.check(chunk.getChunkIndex(), chunk.getChunkCount(),
        chunk.getElementOffset(), chunk.getElementCount());
    if (window.partitions() > 0) {
      int owner = topics.partitionOf(range.index(), window.partitions());
      if (partition != owner) {
        // Chunk i of every worker meets in partition i mod P; a copy elsewhere is no
        // contribution, and is said so rather than left lying there.
        throw new ChunkRejectedException(DeadLetterReason.WRONG_PARTITION, "chunk "
            + range.index() + " came on partition " + partition + "; it belongs to partition "
            + owner + " of " + window.partitions());
      }
    }
    ElementCodec codec = window.codec();
    TensorEncoding encoding = chunk.getEncoding();
    if (encoding != codec.encoding()) {
      ElementCodec.requireKnown(encoding);
      throw new ChunkRejectedException(DeadLetterReason.LAYOUT_MISMATCH, "the chunk is "
          + encoding + ", the run sums " + codec.encoding());
    }
    // The run's codec: a block codec's block size is the run's, not the chunk's to choose.
    PayloadFormat format = new PayloadFormat(codec, chunk.getCompression(),
        chunk.getBytePlanes());
    ByteBuffer canonical = decoder(plan).canonical(chunk.getPayload(), format, range.count(),
        chunk.getCrc32c());
    if (!window.bound().none()) {
      if (values.length < range.count()) {
        values = new float[range.count()];
      }
      format.codec().decode(canonical.array(), canonical.arrayOffset() + canonical.position(),
          range.count(), values, 0);
      window.bound().require(values, range.count());
    }
    return new CheckedChunk(chunk, range, format, canonical);
  }

  private ChunkDecoder decoder(ChunkPlan plan) {
    if (decoder == null || decoder.maxElements() != plan.chunkElements()) {
      close();
      decoder = new ChunkDecoder(plan.chunkElements());
    }
    return decoder;
  }

  @Override
  public void close() {
    if (decoder != null) {
      decoder.close();
      decoder = null;
    }
  }
}
