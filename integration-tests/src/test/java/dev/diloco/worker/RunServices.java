package dev.diloco.worker;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.reducer.Reducer;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.ModelDescription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/** The optimizer and the reducer of a worker test's run, in this JVM, on the test's broker. */
final class RunServices {

  static final Duration WAIT = Duration.ofSeconds(90);

  interface WhileRunning {
    void run() throws Exception;
  }

  private RunServices() {}

  /** The optimizer (started with {@code run}'s round 0) and the reducer, while {@code body}. */
  static void with(KafkaClientConfig clients, Path dir, ReducerConfig reducing,
      ModelDescription run, float[] initial, WhileRunning body) throws Exception {
    with(clients, dir, reducing, run, initial, null, body);
  }

  /** As above, the optimizer signing its commits with {@code key} (null: unsigned). */
  static void with(KafkaClientConfig clients, Path dir, ReducerConfig reducing,
      ModelDescription run, float[] initial, KeyPair key, WhileRunning body) throws Exception {
    AtomicBoolean stop = new AtomicBoolean();
    try (OuterOptimizer optimizer = new OuterOptimizer(run.getRunId(), clients,
            WarmupCosine.CONSTANT, key);
        Reducer reducer = new Reducer(reducing, clients, dir.resolve("reducer-" + run.getRunId()),
            new SimpleMeterRegistry(), Map.of())) {
      optimizer.open(run, initial);
      reducer.start(WAIT);
      Thread optimizing = new Thread(() -> {
        while (!stop.get()) {
          optimizer.pollOnce(Duration.ofMillis(100));
        }
      }, "optimizer");
      optimizing.start();
      try {
        body.run();
      } finally {
        stop.set(true);
        optimizing.join(TimeUnit.SECONDS.toMillis(30));
      }
    }
  }

  static RunTopics createTopics(String run, KafkaClientConfig clients) throws Exception {
    RunTopics topics = new RunTopics(run);
    Topics.create(clients, topics.newTopics(2, (short) 1, clients));
    return topics;
  }

  /** The model's seeded weights: the run's round 0. */
  static float[] initialWeights(LanguageModel model) {
    float[] initial = new float[(int) model.layout().totalElements()];
    model.parameters(initial);
    return initial;
  }

  static void awaitRound(RoundLog log, int round) {
    org.awaitility.Awaitility.await().atMost(WAIT).until(() ->
        log.latestCommit().map(c -> c.getRound() >= round).orElse(false));
  }
}
