package dev.diloco.worker;

import dev.diloco.core.codec.BlockCodec;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.schemas.InnerOptimizerConfig;
import dev.diloco.schemas.ModelArchitecture;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.Overlap;

/**
 * Everything a run fixes about its training, and its model description: the one record every
 * service reads, so workers build their model, batch and inner optimizer from the run itself
 * rather than from options that could disagree.
 */
public record RunSpec(String runId, ModelConfig model, int batch, int innerSteps,
    AdamW.Config inner, OuterOptimizerConfig outer, PayloadFormat format, boolean errorFeedback,
    long seed, int chunkElements, Overlap overlap) {

  /** A run whose workers wait for each round's weights. */
  public RunSpec(String runId, ModelConfig model, int batch, int innerSteps, AdamW.Config inner,
      OuterOptimizerConfig outer, PayloadFormat format, boolean errorFeedback, long seed,
      int chunkElements) {
    this(runId, model, batch, innerSteps, inner, outer, format, errorFeedback, seed,
        chunkElements, Overlap.NONE);
  }

  public RunSpec {
    if (overlap == null) {
      throw new IllegalArgumentException("a run needs an overlap mode (NONE for none)");
    }
    if (batch < 1) {
      throw new IllegalArgumentException("batch must be >= 1, got " + batch);
    }
    if (innerSteps < 1) {
      throw new IllegalArgumentException("inner steps must be >= 1, got " + innerSteps);
    }
    if (chunkElements < 1) {
      throw new IllegalArgumentException("chunk elements must be >= 1, got " + chunkElements);
    }
    OuterStep.of(outer); // refuses outer settings that cannot step, before a run starts
  }

  /** The same run with its workers overlapping rounds as {@code mode} says. */
  public RunSpec withOverlap(Overlap mode) {
    return new RunSpec(runId, model, batch, innerSteps, inner, outer, format, errorFeedback,
        seed, chunkElements, mode);
  }

  /** The same run with a model over {@code vocab} tokens (the tokenizer's of its data). */
  public RunSpec withVocab(int vocab) {
    return new RunSpec(runId, model.withVocab(vocab), batch, innerSteps, inner, outer, format,
        errorFeedback, seed, chunkElements, overlap);
  }

  /** The same run with the inner and outer learning rates {@code inner} and {@code outer}. */
  public RunSpec withLearningRates(double inner, double outer) {
    return new RunSpec(runId, model, batch, innerSteps, this.inner.withLearningRate(inner),
        OuterOptimizerConfig.newBuilder(this.outer).setLearningRate(outer).build(), format,
        errorFeedback, seed, chunkElements, overlap);
  }

  /** The model with the run's initial weights (from its seed) and its batch size. */
  public LanguageModel newModel() {
    return LanguageModel.of(model, batch, seed);
  }

  public ModelDescription describe(LanguageModel built) {
    return ModelDescription.newBuilder()
        .setRunId(runId).setFamily(model.family().wireName())
        .setArchitecture(architecture(model))
        .setInnerOptimizer(new InnerOptimizerConfig(inner.learningRate(), inner.beta1(),
            inner.beta2(), inner.epsilon(), inner.weightDecay(), inner.clip(),
            inner.schedule().warmup(), batch, inner.schedule().decayEnd(),
            inner.schedule().floor()))
        .setOuterOptimizer(outer).setInnerSteps(innerSteps)
        .setEncoding(format.encoding()).setCompression(format.compression())
        .setBytePlanes(format.bytePlanes())
        .setBlockSize(format.codec() instanceof BlockCodec b ? b.blockSize() : 0)
        .setErrorFeedback(errorFeedback).setSeed(seed)
        .setLayout(built.layout().toSpec(chunkElements))
        .setCreatedAtMs(System.currentTimeMillis()).setOverlap(overlap)
        .build();
  }

  /** What a run's description says; refuses a family this build does not train. */
  public static RunSpec of(ModelDescription d) {
    ModelConfig model;
    try {
      model = model(d.getFamily(), d.getArchitecture());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("run " + d.getRunId() + "'s model: " + e.getMessage(), e);
    }
    InnerOptimizerConfig i = d.getInnerOptimizer();
    return new RunSpec(d.getRunId(), model,
        i.getBatchSize(), d.getInnerSteps(),
        AdamW.Config.OPENDILOCO.withLearningRate(i.getLearningRate())
            .withBetas(i.getBeta1(), i.getBeta2()).withEpsilon(i.getEpsilon())
            .withWeightDecay(i.getWeightDecay()).withClip(i.getGradientClip())
            .withSchedule(new WarmupCosine(i.getWarmupSteps(), i.getDecayEnd(),
                i.getDecayEnd() == 0 ? 1.0 : i.getDecayFloor())),
        d.getOuterOptimizer(),
        PayloadFormat.of(d), d.getErrorFeedback(),
        d.getSeed(), d.getLayout().getChunkElements(), d.getOverlap());
  }

  /** The model's sizes as a description holds them. */
  static ModelArchitecture architecture(ModelConfig m) {
    return ModelArchitecture.newBuilder().setVocabSize(m.vocab())
        .setContextLength(m.contextLength()).setMaxPositions(m.maxPositions())
        .setLayers(m.layers()).setDModel(m.dModel()).setHeads(m.heads())
        .setKvHeads(m.kvHeads()).setMlpHidden(m.mlpHidden()).setNormEpsilon(m.normEps())
        .setRopeTheta(m.ropeTheta()).setTiedHead(m.tiedHead()).setActivation(m.activation())
        .build();
  }

  /** The model a description's family and sizes say; a description before v7 has zeros. */
  static ModelConfig model(String family, ModelArchitecture a) {
    return new ModelConfig(ModelConfig.Family.of(family), a.getVocabSize(),
        a.getContextLength(), a.getMaxPositions() == 0 ? a.getContextLength()
            : a.getMaxPositions(), a.getLayers(), a.getDModel(), a.getHeads(),
        a.getKvHeads() == 0 ? a.getHeads() : a.getKvHeads(), a.getMlpHidden(),
        a.getNormEpsilon(), a.getRopeTheta(), a.getTiedHead(), a.getActivation());
  }
}
