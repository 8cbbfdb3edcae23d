package dev.diloco.core.testing;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.math.OuterStep;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.InnerOptimizerConfig;
import dev.diloco.schemas.ModelArchitecture;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WorkerHeartbeat;
import java.nio.ByteBuffer;
import java.util.List;

/** Records of a small run, for the tests of every module and the benchmarks. */
public final class TestRuns {
  private TestRuns() {}

  /**
   * A run of {@code layout} in chunks of {@code chunkElements}, FP16, DiLoCo's outer step, 10
   * inner steps at 3e-3 (so the reducer's bound on a value is 0.24: above the tests' Δ).
   */
  public static ModelDescription description(String runId, ParameterLayout layout,
      int chunkElements) {
    return description(runId, layout, chunkElements, 10, 3e-3);
  }

  /** As above, with the workers' inner steps and learning rate. */
  public static ModelDescription description(String runId, ParameterLayout layout,
      int chunkElements, int innerSteps, double innerLearningRate) {
    return ModelDescription.newBuilder()
        .setRunId(runId).setFamily("test")
        .setArchitecture(ModelArchitecture.newBuilder().setVocabSize(256).setContextLength(8)
            .setLayers(1).setDModel(8).setHeads(1).setMlpHidden(32).build())
        .setInnerOptimizer(new InnerOptimizerConfig(innerLearningRate, 0.9, 0.95, 1e-8, 0.1, 1.0,
            0, 4, 0, 1.0))
        .setOuterOptimizer(OuterStep.dilocoConfig())
        .setInnerSteps(innerSteps).setEncoding(TensorEncoding.FP16).setCompression(Compression.NONE)
        .setBytePlanes(false).setSeed(1).setLayout(layout.toSpec(chunkElements))
        .setCreatedAtMs(0)
        .build();
  }

  /** A commit of {@code round} as the optimizer writes it (its hash is not checked here). */
  public static RoundCommit commit(String runId, int round, ChunkPlan plan, long committedAtMs) {
    return RoundCommit.newBuilder()
        .setRunId(runId).setRound(round).setWeightsSha256(ByteBuffer.wrap(new byte[32]))
        .setTotalElements(plan.totalElements()).setChunkCount(plan.chunkCount())
        .setOutcome(round == 0 ? RoundOutcome.INITIAL : RoundOutcome.STEPPED)
        .setContributors(List.of())
        .setOuterOptimizer(OuterStep.dilocoConfig())
        .setOuterLearningRate(OuterStep.DILOCO_LEARNING_RATE).setRoundOpenedAtMs(0)
        .setReductionDoneAtMs(0).setCommittedAtMs(committedAtMs)
        .build();
  }

  public static WorkerHeartbeat heartbeat(String runId, String worker, int round,
      HeartbeatKind kind) {
    return new WorkerHeartbeat(runId, worker, kind, round, 1L, "test-host", 0L, null, null);
  }
}
