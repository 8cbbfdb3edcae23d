package dev.diloco.launcher.options;

import dev.diloco.core.layout.Safetensors;
import dev.diloco.schemas.ModelArchitecture;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.TrainingData;
import dev.diloco.worker.hf.HfCheckpoint;
import dev.diloco.worker.hf.HfConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** What model a new run trains and where its weights start: a preset, or a checkpoint. */
public final class ModelOptions {

  @Option(names = "--model", paramLabel = "PRESET",
      description = "Model preset: tiny, small, medium or large (byte-transformer); llama-2m, "
          + "llama-14m, llama-150m or llama-1b (Hugging Face's LlamaForCausalLM, OpenDiLoCo's "
          + "sizes; the last two for GPU hosts); gpt2-mini or gpt2 (GPT2LMHeadModel). The "
          + "vocabulary is the data's (default: tiny; with --init DIR, the checkpoint's).")
  String model;

  @Option(names = "--context", paramLabel = "T",
      description = "Tokens per training window (default: the preset's; with --init DIR, the "
          + "checkpoint's positions up to " + HfConfig.DEFAULT_CONTEXT + ").")
  Integer context;

  @Option(names = "--init", paramLabel = "PATH",
      description = "Start from a checkpoint instead of the seed's weights: a Hugging Face "
          + "directory (config.json and model.safetensors, as save_pretrained or diloco export "
          + "--format hf writes it), whose config.json is the model (llama or gpt2); or a "
          + "safetensors file of the --model preset's tensors (diloco export).")
  Path init;

  /** The model: the preset's name, or the checkpoint directory the run starts from. */
  public String name() {
    return HfCheckpoint.isCheckpoint(init) ? init.toString() : model == null ? "tiny" : model;
  }

  /** The checkpoint to start from, or null for the seed's weights. */
  public Path init() {
    return init;
  }

  /**
   * The model: a Hugging Face checkpoint's config.json (--init DIR), or the preset, trained on
   * windows of --context tokens.
   */
  public ModelConfig config() {
    if (context != null && context < 1) {
      throw new IllegalArgumentException("--context must be >= 1, got " + context);
    }
    if (init != null && Files.isDirectory(init)) {
      if (model != null) {
        throw new IllegalArgumentException("--model " + model + " and --init " + init + ": a run "
            + "from a Hugging Face checkpoint is the model its config.json says; leave --model "
            + "out");
      }
      try {
        HfCheckpoint.compactConfig(init); // what the description keeps of it must fit, first
        return HfCheckpoint.config(init, context == null ? 0 : context);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException("cannot read checkpoint " + init, e);
      }
    }
    ModelConfig preset = ModelConfig.preset(model == null ? "tiny" : model);
    return context == null ? preset : preset.withContext(context);
  }

  /** The weights round 0 starts from: the checkpoint's, or the model's seeded ones. */
  public static float[] initialWeights(LanguageModel model, Path init) throws IOException {
    if (init != null && Files.isDirectory(init)) {
      return HfCheckpoint.weights(init, model.config(), model.layout());
    }
    if (init != null) {
      return Safetensors.read(init, model.layout());
    }
    float[] initial = new float[Math.toIntExact(model.layout().totalElements())];
    model.parameters(initial);
    return initial;
  }

  /**
   * The run's description, with the config.json of the Hugging Face checkpoint it starts from
   * ({@code init}, when that is one): its other fields come back when the run is exported.
   */
  public static ModelDescription withCheckpointConfig(ModelDescription d, Path init)
      throws IOException {
    if (!HfCheckpoint.isCheckpoint(init)) {
      return d;
    }
    return ModelDescription.newBuilder(d).setArchitecture(ModelArchitecture.newBuilder(
        d.getArchitecture()).setHfConfig(HfCheckpoint.compactConfig(init)).build()).build();
  }

  /**
   * The run {@code spec} sized for {@code data}: a preset's vocabulary is the data's (bytes or
   * its tokenizer's); a checkpoint's is its own, which the data must fit in.
   */
  public RunSpec fitTo(RunSpec spec, TrainingData data) {
    return fitTo(spec, data.vocab(), data.source());
  }

  /** The run {@code spec} with no data: its workers train on built-in bytes. */
  public RunSpec fitToBytes(RunSpec spec) {
    return fitTo(spec, ModelConfig.VOCAB, "the built-in corpus");
  }

  private RunSpec fitTo(RunSpec spec, int vocab, String source) {
    if (!HfCheckpoint.isCheckpoint(init)) {
      return spec.withVocab(vocab);
    }
    if (vocab > spec.model().vocab()) {
      throw new IllegalArgumentException("data " + source + " has a vocabulary of "
          + vocab + " tokens; checkpoint " + init + "'s model has " + spec.model().vocab()
          + ": tokenize the data with the checkpoint's tokenizer");
    }
    return spec;
  }
}
