package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.diloco.audit.Replay;
import dev.diloco.audit.RunRecords;
import dev.diloco.audit.TopicReader;
import dev.diloco.broker.EmbeddedKafkaBroker;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunAcls;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.optimizer.OuterOptimizer;
import dev.diloco.reducer.Reducer;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.Averaging;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.OuterMethod;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WorkerHeartbeat;
import dev.diloco.worker.AdamW;
import dev.diloco.worker.BuiltInCorpus;
import dev.diloco.worker.ByteCorpus;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.ChunkPublisher;
import dev.diloco.worker.ModelConfig;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.Worker;
import dev.diloco.worker.WorkerSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run on a broker with authentication (SASL/SCRAM) and the KRaft StandardAuthorizer, each
 * service as its own principal with only the ACLs that {@code diloco acls} gives its role.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class SecureRunIntegrationTest {

  private static final String RUN = "secure";
  private static final Map<String, String> USERS = Map.of("worker-0", "w0-secret",
      "worker-1", "w1-secret", "reducer", "r-secret", "optimizer", "o-secret",
      "auditor", "a-secret", "doomed-reducer", "d-secret");

  @TempDir
  static Path dir;
  private static EmbeddedKafkaBroker broker;

  @BeforeAll
  static void startSecuredBrokerWithTopicsAndAcls() throws Exception {
    broker = EmbeddedKafkaBroker.builder().authentication("admin-secret", USERS).start();
    Path admin = properties(EmbeddedKafkaBroker.ADMIN);
    assertThat(cli("topics", "create", "--run", RUN, "--worker", "worker-0", "--worker",
        "worker-1", "--client-config", admin.toString())).isZero();
    assertThat(cli("acls", "--run", RUN, "--worker", "User:worker-0", "--worker",
        "User:worker-1", "--reducer", "User:reducer", "--optimizer", "User:optimizer",
        "--auditor", "User:auditor", "--apply", "--client-config", admin.toString())).isZero();
  }

  @AfterAll
  static void stopBroker() {
    if (broker != null) {
      broker.close();
    }
  }

  @Test
  void aSmallRunSucceedsWithEachServiceHoldingOnlyItsRolesAcls() throws Exception {
    RunSpec spec = new RunSpec(RUN, ModelConfig.preset("tiny"), 4, 2, AdamW.Config.OPENDILOCO,
        new OuterOptimizerConfig(OuterMethod.NESTEROV, 0.7, 0.9, Averaging.COUNT),
        PayloadFormat.FP16, false, 1, 65536);
    ByteCorpus corpus = ByteCorpus.of(BuiltInCorpus.generate(1 << 20, 1), 0.1, "built-in");
    LanguageModel initial = spec.newModel();
    float[] weights = new float[Math.toIntExact(initial.layout().totalElements())];
    initial.parameters(weights);
    AtomicBoolean stop = new AtomicBoolean();
    List<Thread> threads = new ArrayList<>();
    try (OuterOptimizer optimizer = new OuterOptimizer(RUN, as("optimizer"),
            WarmupCosine.CONSTANT, null);
        Reducer reducer = new Reducer(new ReducerConfig(RUN, 1,
            Duration.ofSeconds(1), 4), as("reducer"), dir.resolve("reducer-state"),
            new SimpleMeterRegistry(), Map.of())) {
      optimizer.open(spec.describe(initial), weights);
      reducer.start(Duration.ofMinutes(2));
      threads.add(new Thread(() -> {
        try {
          while (!stop.get()) {
            optimizer.pollOnce(Duration.ofMillis(200));
          }
        } catch (WakeupException stopping) {
          // the test is over
        }
      }, "optimizer"));
      for (int w = 0; w < 2; w++) {
        String id = "worker-" + w;
        byte[] shard = corpus.shard(w, 2);
        threads.add(new Thread(() -> {
          try (Worker worker = new Worker(new WorkerSettings(RUN, id, spec.innerSteps(),
              spec.inner(), spec.format(), spec.seed(), 1, Duration.ofMinutes(2)),
              spec.newModel(), shard, corpus.evalSlice(), as(id))) {
            worker.run(2, 2, r -> {});
          }
        }, id));
      }
      // worker-0's principal says, again and again, that worker-1 left every round, on the
      // shared membership topic that every worker may write: the reducer believes worker-1's
      // own topic, so every sum still waits for worker-1.
      RunTopics topics = new RunTopics(RUN);
      threads.add(new Thread(() -> {
        try (var forger = new KafkaProducer<>(as("worker-0").producer(),
            new ByteArraySerializer(), new ByteArraySerializer())) {
          while (!stop.get()) {
            for (int round = 0; round <= 2; round++) {
              forger.send(new ProducerRecord<>(topics.membership(), "worker-1".getBytes(),
                  AvroSerde.of(WorkerHeartbeat.class).encode(TestRuns.heartbeat(RUN,
                      "worker-1", round, HeartbeatKind.LEAVE))));
            }
            forger.flush();
          }
        }
      }, "forger"));
      threads.forEach(Thread::start);
      // worker-0's principal publishes a chunk under worker-1's name on its own topic.
      PseudoGradientChunk spoofed = PseudoGradientChunk.newBuilder()
          .setRunId(RUN).setRound(0).setWorkerId("worker-1").setChunkIndex(0).setChunkCount(3)
          .setElementOffset(0).setElementCount(4).setEncoding(TensorEncoding.FP16)
          .setCompression(Compression.NONE).setBytePlanes(false)
          .setPayload(ByteBuffer.wrap(new byte[8])).setCrc32c(0).setInnerSteps(1).setTokens(1)
          .setMeanInnerLoss(0f).setCreatedAtMs(0).build();
      try (var producer = new KafkaProducer<>(as("worker-0").producer(),
          new ByteArraySerializer(), new ByteArraySerializer())) {
        producer.send(new ProducerRecord<>(topics.workerPseudoGradients("worker-0"), 0,
            new byte[4], AvroSerde.of(PseudoGradientChunk.class).encode(spoofed))).get();
      }
      await().atMost(Duration.ofMinutes(3)).until(() -> optimizer.round() >= 2);
      List<DeadLetter> letters = new ArrayList<>();
      new RoundLog(topics, as(EmbeddedKafkaBroker.ADMIN), Duration.ofSeconds(30)).readToEnd(
          new TopicPartition(topics.deadLetters(), 0), 0, r -> letters.add(
              AvroSerde.of(DeadLetter.class).decode(r.value())));
      assertThat(letters).extracting(DeadLetter::getReason)
          .containsExactly(DeadLetterReason.PRINCIPAL_MISMATCH);
      assertThat(letters.get(0).getDetail()).contains("the chunk names worker worker-1 but came "
          + "on diloco.secure.pseudograds.worker-0");
      stop.set(true);
      optimizer.wakeup();
      for (Thread t : threads) {
        t.join(TimeUnit.SECONDS.toMillis(60));
      }
    }
    RoundLog log = new RoundLog(new RunTopics(RUN), as("worker-0"), Duration.ofSeconds(30));
    for (int round = 1; round <= 2; round++) {
      assertThat(log.commit(round).orElseThrow().getContributors()).as("round %d", round)
          .extracting(Contribution::getWorkerId)
          .containsExactlyInAnyOrder("worker-0", "worker-1");
    }
    assertThat(Topics.problems(as("worker-1"), new RunTopics(RUN), 65536)).isEmpty();

    // An auditor replays the run from the workers' own topics, bit for bit.
    try (TopicReader reader = new TopicReader(as("auditor"), Duration.ofSeconds(60))) {
      Replay.Report report = Replay.replay(RunRecords.read(new RunTopics(RUN), reader), reader,
          0, -1, r -> {});
      assertThat(report.rounds()).hasSize(3);
      assertThat(report.firstFinding()).isEmpty();
    }
  }

  @Test
  void aWorkerCannotWriteWeightsCommitsSumsOrAnotherWorkersChunks() {
    RunTopics topics = new RunTopics(RUN);
    try (var producer = new KafkaProducer<>(as("worker-0").producer(), new ByteArraySerializer(),
        new ByteArraySerializer())) {
      for (String forbidden : List.of(topics.weights(), topics.commits(), topics.reduced(),
          topics.pseudoGradients(), topics.workerPseudoGradients("worker-1"))) {
        assertThatThrownBy(() -> producer.send(new ProducerRecord<>(forbidden, new byte[8]))
            .get(30, TimeUnit.SECONDS)).as(forbidden).isInstanceOf(ExecutionException.class)
            .hasCauseInstanceOf(TopicAuthorizationException.class);
      }
    }
  }

  @Test
  void aWorkerThatWritesTheSharedTopicIsToldWhatItNeeds() {
    ChunkPlan plan = ParameterLayout.builder().add("w", 8).build().chunks(8);
    try (ChunkPublisher publisher = new ChunkPublisher(new RunTopics(RUN), "worker-0", plan,
        PayloadFormat.FP16, 4, as("worker-0"))) {
      assertThatThrownBy(() -> publisher.publish(0, new float[8], 1, 1, 0f))
          .hasMessageContaining("to diloco.secure.pseudograds failed")
          .hasMessageContaining("on a cluster with ACLs a worker writes only its own topic "
              + "diloco.secure.pseudograds.worker-0: create it with 'diloco topics create "
              + "--worker ID'");
    }
  }

  @Test
  void aClientWithoutCredentialsOrWithWrongOnesIsRefused() {
    Map<String, Object> wrong = new java.util.HashMap<>(as("worker-0").admin());
    wrong.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule "
        + "required username=\"worker-0\" password=\"guess\";");
    try (Admin admin = Admin.create(wrong)) {
      assertThatThrownBy(() -> admin.describeCluster().nodes().get(30, TimeUnit.SECONDS))
          .hasCauseInstanceOf(SaslAuthenticationException.class);
    }
    // No SASL at all: the broker's only client listener speaks SASL, so nothing is answered.
    Map<String, Object> anonymous = Map.of("bootstrap.servers", broker.bootstrapServers(),
        "request.timeout.ms", "3000", "default.api.timeout.ms", "5000");
    try (Admin admin = Admin.create(anonymous)) {
      assertThatThrownBy(() -> admin.listTopics().names().get(10, TimeUnit.SECONDS))
          .isInstanceOfAny(ExecutionException.class, java.util.concurrent.TimeoutException.class);
    }
  }

  /**
   * A reducer whose principal loses its ACLs while it runs (an operator's mistake): its
   * processing dies, and the process exits non-zero with the cause, not half alive, so a
   * restart policy or a health check sees it.
   */
  @Test
  void aReducerWhoseProcessingDiesExitsNonZeroWithTheCause() throws Exception {
    String run = "doomed";
    Path admin = properties(EmbeddedKafkaBroker.ADMIN);
    assertThat(cli("topics", "create", "--run", run, "--client-config", admin.toString()))
        .isZero();
    assertThat(cli("acls", "--run", run, "--reducer", "User:doomed-reducer", "--apply",
        "--client-config", admin.toString())).isZero();
    Path config = properties("doomed-reducer");
    StringWriter err = new StringWriter();
    AtomicInteger exit = new AtomicInteger(-1);
    Thread reducer = new Thread(() -> exit.set(Cli.run(new StringWriter(), err, "reducer",
        "--run", run, "--state-dir", dir.resolve("doomed-state").toString(),
        "--client-config", config.toString())), "doomed-reducer");
    reducer.start();
    try (Admin acls = Admin.create(as(EmbeddedKafkaBroker.ADMIN).admin())) {
      // Running: it holds its Streams group's membership (the group exists once it joins).
      await().atMost(Duration.ofSeconds(90)).ignoreExceptions()
          .failFast("the reducer ended before it ran", () -> assertThat(reducer.isAlive())
              .as(() -> "the reducer, exit " + exit.get() + ", said: " + err).isTrue())
          .until(() -> !acls
          .describeConsumerGroups(List.of(RunAcls.reducerApplicationId(run))).all().get()
          .values().iterator().next().members().isEmpty());
      acls.deleteAcls(List.of(new AclBindingFilter(ResourcePatternFilter.ANY,
          new AccessControlEntryFilter("User:doomed-reducer", null, AclOperation.ANY,
              AclPermissionType.ANY)))).all().get();
      reducer.join(TimeUnit.SECONDS.toMillis(120));
    } finally {
      if (reducer.isAlive()) {
        reducer.interrupt();
      }
    }
    assertThat(reducer.isAlive()).as("the reducer is still running").isFalse();
    assertThat(exit.get()).isEqualTo(1);
    assertThat(err.toString()).contains("the reducer of run doomed stopped")
        .containsIgnoringCase("authoriz");
  }

  private static KafkaClientConfig as(String user) {
    return KafkaClientConfig.of(broker.clientSettings(user));
  }

  /** A client .properties file for {@code user}, as an operator would write one. */
  private static Path properties(String user) throws Exception {
    Properties p = new Properties();
    p.putAll(broker.clientSettings(user));
    Path file = dir.resolve(user + ".properties");
    try (var out = Files.newBufferedWriter(file)) {
      p.store(out, null);
    }
    return file;
  }

  private static int cli(String... args) {
    StringWriter err = new StringWriter();
    int exit = Cli.run(new StringWriter(), err, args);
    assertThat(err.toString()).as("diloco %s", String.join(" ", args)).isEmpty();
    return exit;
  }
}
