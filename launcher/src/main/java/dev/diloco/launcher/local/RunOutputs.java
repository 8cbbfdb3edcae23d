package dev.diloco.launcher.local;

import dev.diloco.core.layout.Safetensors;
import dev.diloco.worker.ByteTransformer;
import dev.diloco.worker.RunSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What a local run leaves in its directory after its last round, beside summary.json. */
final class RunOutputs {
  private RunOutputs() {}

  /** Bytes of text sampled from the final model, at the temperature below. */
  private static final int SAMPLE_BYTES = 300;
  private static final double SAMPLE_TEMPERATURE = 0.8;

  /** final-weights.safetensors, sample.txt and loss.png. */
  static void write(Path dir, RunSpec spec, RunSummary summary, ByteTransformer model,
      float[] weights) throws IOException {
    Safetensors.write(dir.resolve("final-weights.safetensors"), model.layout(), weights);
    ByteTransformer sampler = new ByteTransformer(spec.model(), 1, spec.seed());
    sampler.setParameters(weights);
    Files.writeString(dir.resolve("sample.txt"),
        sampler.sample(SAMPLE_BYTES, SAMPLE_TEMPERATURE, spec.seed()) + "\n");
    summary.writeLossPng(dir.resolve("loss.png"), "DiLoCo run " + spec.runId());
  }
}
