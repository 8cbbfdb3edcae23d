package dev.diloco.launcher.local;

import dev.diloco.core.layout.Safetensors;
import dev.diloco.tokens.TokenizerFile;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.Sampler;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** What a local run leaves in its directory after its last round, beside summary.json. */
final class RunOutputs {
  private RunOutputs() {}

  /** Bytes of text sampled from the final model, at the temperature below. */
  private static final int SAMPLE_BYTES = 300;
  private static final double SAMPLE_TEMPERATURE = 0.8;

  /**
   * final-weights.safetensors, sample.txt and loss.png; says so on {@code console}. A model over
   * a tokenizer's vocabulary samples tokens, decoded by {@code tokenizer}; without one, text
   * ({@code bytes}) is bytes, and tokens are written as ids.
   */
  static void write(Path dir, RunSpec spec, RunSummary summary, LanguageModel model,
      float[] weights, PrintStream console, Path tokenizer, boolean bytes) throws IOException {
    long start = System.nanoTime();
    console.printf("writing the final weights, %d bytes of text sampled from them, and the loss "
        + "plot%n", SAMPLE_BYTES);
    Safetensors.write(dir.resolve("final-weights.safetensors"), model.layout(), weights);
    Sampler sampler = Sampler.of(spec.model(), model.layout(), weights);
    String text;
    if (tokenizer == null && !bytes) {
      // Tokens of a tokenizer the run does not know (a token file without a manifest): ids.
      text = "token ids (decode them with the data's tokenizer, or diloco sample --tokenizer): "
          + java.util.Arrays.toString(sampler.generate(0, SAMPLE_BYTES / 4, SAMPLE_TEMPERATURE,
              spec.seed()));
    } else if (tokenizer == null) {
      text = sampler.sample(SAMPLE_BYTES, SAMPLE_TEMPERATURE, spec.seed());
    } else {
      try (TokenizerFile decoder = TokenizerFile.load(tokenizer)) {
        // From the end-of-text token, as a new document starts; the tokens of about as many
        // bytes as a byte model samples.
        text = decoder.decode(sampler.generate(decoder.endOfText().orElse(0), SAMPLE_BYTES / 4,
            SAMPLE_TEMPERATURE, spec.seed()));
      }
    }
    Files.writeString(dir.resolve("sample.txt"), text + "\n");
    summary.writeLossPng(dir.resolve("loss.png"), "DiLoCo run " + spec.runId());
    console.printf("wrote final-weights.safetensors, sample.txt and loss.png in %.1f s; "
        + "stopping the workers and the broker%n", (System.nanoTime() - start) / 1e9);
  }
}
