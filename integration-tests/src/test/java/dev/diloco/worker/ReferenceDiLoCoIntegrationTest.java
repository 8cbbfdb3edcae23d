package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.codec.BlockCodec;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.OuterStep;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.tokens.Tokens;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Kafka pipeline (workers, reducer, optimizer, each round through the topics) ends on the
 * weights of the reference DiLoCo ({@link DiLoCo}: the same workers, shards and seed, in one
 * loop with no Kafka), bit for bit, round after round: FP16; BF16 sent as byte planes under
 * zstd (its sums in FP64, in worker order); INT4 with error feedback (a block codec, chunk by
 * chunk, with the worker's residual).
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ReferenceDiLoCoIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  private static final ModelConfig MODEL = new ModelConfig(16, 1, 32, 4, 64);
  private static final int BATCH = 2;
  private static final int H = 3;
  private static final int ROUNDS = 3;
  private static final int CHUNK = 4096;
  private static final Duration WAIT = Duration.ofSeconds(90);

  @TempDir
  Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"FP16", "BF16", "INT4"})
  void thePipelineEndsOnTheReferencesWeightsBitForBit(String encoding) throws Exception {
    boolean blocks = encoding.equals("INT4");
    PayloadFormat format = switch (encoding) {
      case "INT4" -> PayloadFormat.of(TensorEncoding.INT4, BlockCodec.DEFAULT_BLOCK,
          Compression.NONE, false);
      case "BF16" -> PayloadFormat.of(TensorEncoding.BF16, 0, Compression.ZSTD, true);
      default -> PayloadFormat.FP16;
    };
    String run = "reference-" + encoding.toLowerCase();
    RunSpec spec = new RunSpec(run, MODEL, BATCH, H, AdamW.Config.OPENDILOCO.withLearningRate(1e-2),
        OuterStep.dilocoConfig(), format, blocks, 1, CHUNK);
    LanguageModel model = spec.newModel();
    float[] initial = RunServices.initialWeights(model);
    byte[] text = BuiltInCorpus.generate(1 << 14, 1);
    ByteCorpus corpus = ByteCorpus.of(text, 0.1, "built-in");
    List<String> ids = List.of("worker-0", "worker-1");

    DiLoCo reference = new DiLoCo(spec, List.of(
        new DiLoCo.Member(ids.get(0), Tokens.of(corpus.shard(0, 2))),
        new DiLoCo.Member(ids.get(1), Tokens.of(corpus.shard(1, 2)))), initial);
    List<float[]> expected = new ArrayList<>();
    for (int r = 1; r <= ROUNDS; r++) {
      reference.step();
      expected.add(reference.weights());
    }

    KafkaClientConfig clients = KAFKA.clients();
    RoundLog log = new RoundLog(RunServices.createTopics(run, clients), clients, WAIT);
    RunServices.with(clients, dir, new ReducerConfig(run, ids.size(),
        Duration.ofSeconds(1), 2), spec.describe(model), initial, () -> {
          List<Thread> threads = new ArrayList<>();
          List<Throwable> failures = new CopyOnWriteArrayList<>();
          for (int w = 0; w < ids.size(); w++) {
            WorkerSettings settings = new WorkerSettings(run, ids.get(w), H, spec.inner(),
                format, spec.seed(), 1, WAIT);
            byte[] shard = corpus.shard(w, ids.size());
            Thread t = new Thread(() -> {
              try (Worker worker = new Worker(settings, spec.newModel(), shard,
                  corpus.evalSlice(), clients)) {
                assertThat(worker.run(ROUNDS, ROUNDS, r -> { })).isEqualTo(ROUNDS);
              } catch (Throwable e) {
                failures.add(e);
              }
            }, ids.get(w));
            threads.add(t);
            t.start();
          }
          for (Thread t : threads) {
            t.join(WAIT.toMillis());
          }
          assertThat(failures).isEmpty();
          RunServices.awaitRound(log, ROUNDS);
        });
    var plan = model.layout().chunks(CHUNK);
    for (int r = 1; r <= ROUNDS; r++) {
      var commit = log.commit(r).orElseThrow();
      assertThat(commit.getContributors()).extracting(Contribution::getWorkerId)
          .as("round %d", r).containsExactlyElementsOf(ids);
      assertThat(log.weights(commit, plan)).as("round %d's weights", r)
          .containsExactly(expected.get(r - 1));
    }
  }
}
