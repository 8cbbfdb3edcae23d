package dev.diloco.core.codec;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.schemas.PseudoGradientChunk;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * A worker's pseudo-gradient Δ as the records it publishes: one {@link PseudoGradientChunk} per
 * chunk of the plan, encoded in the run's format, with the CRC32C of its decoded payload. The
 * worker publishes these; tests and benchmarks build their chunks the same way. Not
 * thread-safe: it reuses one encoder.
 */
public final class PseudoGradientRecords implements AutoCloseable {

  /** What a worker says of the round a chunk comes from. */
  public record Stats(int innerSteps, long tokens, float meanInnerLoss) {}

  private final String runId;
  private final String workerId;
  private final ChunkPlan plan;
  private final ChunkEncoder encoder;

  public PseudoGradientRecords(String runId, String workerId, ChunkPlan plan,
      PayloadFormat format) {
    this.runId = Objects.requireNonNull(runId, "runId");
    this.workerId = Objects.requireNonNull(workerId, "workerId");
    this.plan = plan;
    this.encoder = new ChunkEncoder(format, plan.chunkElements());
  }

  public ChunkPlan plan() {
    return plan;
  }

  /** Chunk {@code index} of {@code delta} (the whole vector) for {@code round}. */
  public PseudoGradientChunk chunk(int round, int index, float[] delta, Stats stats) {
    ChunkRange range = plan.range(index);
    ChunkEncoder.Encoded e = encoder.encode(delta, Math.toIntExact(range.offset()), range.count());
    byte[] payload = new byte[e.payload().remaining()]; // the encoder's buffer is reused
    e.payload().get(payload);
    PayloadFormat format = encoder.format();
    return PseudoGradientChunk.newBuilder()
        .setRunId(runId).setRound(round).setWorkerId(workerId).setChunkIndex(index)
        .setChunkCount(plan.chunkCount()).setElementOffset(range.offset())
        .setElementCount(range.count()).setEncoding(format.encoding())
        .setCompression(format.compression()).setBytePlanes(format.bytePlanes())
        .setPayload(ByteBuffer.wrap(payload)).setCrc32c(e.crc32c())
        .setInnerSteps(stats.innerSteps()).setTokens(stats.tokens())
        .setMeanInnerLoss(stats.meanInnerLoss()).setCreatedAtMs(System.currentTimeMillis())
        .build();
  }

  @Override
  public void close() {
    encoder.close();
  }
}
