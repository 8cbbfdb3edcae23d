package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.layout.ParameterLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class ByteTransformerTest {

  private static final ModelConfig SMALL = new ModelConfig(16, 2, 32, 4, 64);

  @Test
  void theModelIsCausal() {
    LanguageModel model = LanguageModel.of(SMALL, 2, 7);
    int[][] windows = ByteCorpus.windows(BuiltInCorpus.generate(4096, 1), 2, 16,
        new SplittableRandom(3));
    float[] before = model.logits(windows);
    int changed = 9;
    windows[0][changed] = (windows[0][changed] + 101) % 256;
    windows[1][changed] = (windows[1][changed] + 57) % 256;
    float[] after = model.logits(windows);
    int v = SMALL.vocab();
    for (int b = 0; b < 2; b++) {
      for (int t = 0; t < 16; t++) {
        float[] x = java.util.Arrays.copyOfRange(before, (b * 16 + t) * v, (b * 16 + t + 1) * v);
        float[] y = java.util.Arrays.copyOfRange(after, (b * 16 + t) * v, (b * 16 + t + 1) * v);
        if (t < changed) {
          assertThat(y).as("batch %d position %d, before the change", b, t).containsExactly(x);
        } else {
          assertThat(y).as("batch %d position %d, from the change on", b, t).isNotEqualTo(x);
        }
      }
    }
  }

  @Test
  void theSameSeedGivesTheSameBitsAndTheLayoutNamesEveryTensor() {
    LanguageModel a = LanguageModel.of(SMALL, 1, 42);
    LanguageModel b = LanguageModel.of(SMALL, 1, 42);
    int n = (int) a.layout().totalElements();
    float[] pa = new float[n];
    float[] pb = new float[n];
    a.parameters(pa);
    b.parameters(pb);
    assertThat(pa).containsExactly(pb);
    // 256*32 + 16*32 embeddings; per block 4 norms of 32, 4 attention 32x32, MLP 32x64 + 64 +
    // 64x32 + 32; final norm 2x32; head 32x256
    long perBlock = 4 * 32 + 4 * 32 * 32 + 32 * 64 + 64 + 64 * 32 + 32;
    assertThat(a.layout().totalElements())
        .isEqualTo(256 * 32 + 16 * 32 + 2 * perBlock + 2 * 32 + 32 * 256);
    assertThat(a.layout().tensor("blocks.1.attn.wq").shape()).containsExactly(32, 32);
    assertThat(a.layout().tensors()).extracting(ParameterLayout.Tensor::name)
        .startsWith("wte", "wpe", "blocks.0.ln1.weight").endsWith("lm_head");
  }

  @Test
  void parametersRoundTripThroughTheFlatVectorExactly() {
    LanguageModel model = LanguageModel.of(SMALL, 1, 5);
    int n = (int) model.layout().totalElements();
    float[] set = new float[n];
    SplittableRandom random = new SplittableRandom(9);
    for (int i = 0; i < n; i++) {
      set[i] = (float) random.nextDouble(-1, 1);
    }
    model.setParameters(set);
    float[] got = new float[n];
    model.parameters(got);
    assertThat(got).containsExactly(set);
  }

  /**
   * The gradient SameDiff computes is the loss's: for a few parameters of every kind (the
   * embeddings, attention, MLP, norms, head), the central difference (L(θ + ε) − L(θ − ε)) / 2ε
   * agrees with it. Float precision bounds how close: the loss is about 5.5 in float, so a
   * difference over 2ε = 0.02 is good to about 1e-5 absolute.
   */
  @Test
  void theGradientIsTheFiniteDifferenceOfTheLoss() {
    checkGradients(SMALL, ByteCorpus.windows(BuiltInCorpus.generate(4096, 1), 2, 16,
        new SplittableRandom(5)));
  }

  /**
   * Over a vocabulary of tokens, not bytes: the embedding's rows are gathered outside the graph
   * and their gradient scattered back by hand, and the loss is a sparse cross-entropy; both
   * must still be the loss's gradient, for tokens beyond a byte's range too.
   */
  @Test
  void overAVocabularyOfTokensTheGatheredEmbeddingsGradientIsTheLosssToo() {
    SplittableRandom random = new SplittableRandom(8);
    int[][] windows = new int[2][17];
    for (int[] w : windows) {
      for (int i = 0; i < w.length; i++) {
        w[i] = i % 3 == 0 ? 700 + random.nextInt(3) : random.nextInt(1000); // rows seen twice
      }
    }
    checkGradients(SMALL.withVocab(1000), windows);
  }

  @Test
  void aTokenOutsideTheVocabularyIsRefusedByName() {
    LanguageModel model = LanguageModel.of(SMALL.withVocab(300), 1, 1);
    int[][] windows = new int[1][17];
    windows[0][16] = 300;
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> model.loss(windows))
        .hasMessage("token 300 is not in the model's vocabulary of 300");
  }

  private static void checkGradients(ModelConfig config, int[][] windows) {
    GradientCheck.check(config, windows, java.util.List.of("wte", "wpe", "blocks.0.attn.wq",
        "blocks.1.attn.wo", "blocks.0.mlp.w1", "blocks.1.mlp.b2", "blocks.0.ln1.weight",
        "blocks.1.ln2.weight", "blocks.0.ln2.bias", "ln_f.weight", "ln_f.bias", "lm_head"));
  }

  @Test
  void aRowOfNearlyEqualValuesKeepsTheGradientBoundedByTheNormsEpsilon() {
    // Every position's embedding is 3 ± 2.4e-7: the first norm's rows have a spread of one
    // float step. SameDiff's own layer norm (no epsilon) gave gradients of 2.1e4 here.
    LanguageModel model = LanguageModel.of(SMALL, 2, 11);
    float[] params = new float[(int) model.layout().totalElements()];
    model.parameters(params);
    ParameterLayout.Tensor wte = model.layout().tensor("wte");
    ParameterLayout.Tensor wpe = model.layout().tensor("wpe");
    java.util.Arrays.fill(params, (int) wte.offset(), (int) (wte.offset() + wte.elementCount()),
        0f);
    for (long i = wpe.offset(); i < wpe.offset() + wpe.elementCount(); i++) {
      params[(int) i] = 3f + (i % 2 == 0 ? 2.4e-7f : -2.4e-7f);
    }
    model.setParameters(params);
    float[] grad = new float[params.length];
    float loss = model.lossAndGradient(ByteCorpus.windows(BuiltInCorpus.generate(4096, 1), 2,
        16, new SplittableRandom(5)), grad);
    assertThat(loss).isFinite();
    double largest = 0;
    for (float g : grad) {
      assertThat(g).isFinite();
      largest = Math.max(largest, Math.abs(g));
    }
    assertThat(largest).isLessThan(100);
  }

  @Test
  void aHundredStepsTakeTheEvalLossWellBelowUniformBytes() {
    ByteCorpus corpus = tinyShakespeare()
        .map(p -> ByteCorpus.load(p, 0.1))
        .orElseGet(() -> ByteCorpus.of(BuiltInCorpus.generate(1 << 20, 1), 0.1, "built-in"));
    ModelConfig config = ModelConfig.TINY;
    int batch = 8;
    LanguageModel model = LanguageModel.of(config, batch, 1);
    int n = (int) model.layout().totalElements();
    float[] params = new float[n];
    float[] grad = new float[n];
    model.parameters(params);
    AdamW adamw = new AdamW(AdamW.Config.OPENDILOCO.withLearningRate(3e-3)
        .withSchedule(new dev.diloco.core.math.WarmupCosine(20, 0, 0.1)),
        model.layout());
    byte[] train = corpus.shard(0, 1);
    int[][] eval = ByteCorpus.windows(corpus.evalSlice(), batch, config.contextLength(),
        new SplittableRandom(3));
    float start = model.loss(eval);
    SplittableRandom random = new SplittableRandom(2);
    for (int step = 0; step < 100; step++) {
      model.lossAndGradient(ByteCorpus.windows(train, batch, config.contextLength(), random), grad);
      adamw.step(params, grad);
      model.setParameters(params);
    }
    float end = model.loss(eval);
    // About ln 256 = 5.55 for an untrained model; after 100 steps 2.55 on Tiny Shakespeare, 1.53
    // on the built-in corpus (as measured).
    assertThat(start).isGreaterThan(5.0f);
    assertThat(end).as("eval loss after 100 steps on %s", corpus.source()).isLessThan(3.0f);
  }

  static java.util.Optional<Path> tinyShakespeare() {
    return Stream.of(Path.of("..", "data", "tinyshakespeare.txt")) // the repository's copy
        .filter(Files::isRegularFile).findFirst();
  }
}
