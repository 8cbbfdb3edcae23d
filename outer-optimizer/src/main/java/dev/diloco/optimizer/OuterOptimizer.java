package dev.diloco.optimizer;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RecordPlace;
import dev.diloco.core.kafka.RunAcls;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.WarmupCosine;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import java.nio.ByteBuffer;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The outer optimizer of one run, as a service: reads the reducer's sums and failure reports
 * from where its last committed round left off, hands each to its decisions
 * ({@link OuterRounds}), and publishes a round when they say so ({@link RoundPublisher}), in
 * one transaction with the offsets of what it consumed. Every poll ends in an {@link Outcome}:
 * an aborted transaction sends it back to the last committed round, whose sums it reads
 * again, and a crash resumes there too, with the same bits (weights and momentum from the
 * log). One instance acts for a run at a time: a second one fences the first, whose next
 * transaction is {@code Fenced}; it then publishes nothing more.
 */
public final class OuterOptimizer implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(OuterOptimizer.class);

  /** Makes the service's transactional producer from its settings. */
  public interface Producers {
    Producer<byte[], byte[]> create(Map<String, Object> config);
  }

  /** Kafka's own producer: what the service runs with. */
  public static final Producers KAFKA = config -> new KafkaProducer<>(config,
      new ByteArraySerializer(), new ByteArraySerializer());

  private final RunTopics topics;
  private final WarmupCosine schedule;
  private final KeyPair key;
  private final RoundPublisher publisher;
  private final SumsConsumer sums;
  private final RoundLog log;
  private OuterRounds rounds;
  private RoundCommit newest;
  private Outcome.Fenced fenced;

  /**
   * {@code schedule}: the outer learning rate by round, as a factor of the run's;
   * {@code key}: the key that signs the run's commits (a run it starts carries its public key
   * in its description; a signed run it resumes must have been started with it), or null for
   * an unsigned run.
   */
  public OuterOptimizer(String runId, KafkaClientConfig clients, WarmupCosine schedule,
      KeyPair key) {
    this(runId, clients, schedule, key, KAFKA);
  }

  /** As above, with its producer made by {@code producers}. */
  public OuterOptimizer(String runId, KafkaClientConfig clients, WarmupCosine schedule,
      KeyPair key, Producers producers) {
    this.topics = new RunTopics(runId);
    this.key = key;
    this.schedule = schedule;
    this.log = new RoundLog(topics, clients, KafkaClientConfig.READ_TIMEOUT);
    this.sums = new SumsConsumer(topics, clients);
    try {
      this.publisher = new RoundPublisher(topics, producers.create(
          clients.transactionalProducer(RunAcls.optimizerId(runId))));
    } catch (RuntimeException e) {
      sums.close();
      throw e;
    }
  }

  /**
   * Opens the run: when it has no committed round yet, publishes {@code description} and round
   * 0 with {@code initialWeights} (which may then not be null); otherwise resumes at the newest
   * committed round, after checking that {@code description}, when given, has the run's layout.
   * Returns round 0 as {@code Committed} when it started the run, {@code Idle} when it resumed
   * it, {@code Fenced} when another optimizer took over first.
   */
  public Outcome open(ModelDescription description, float[] initialWeights) {
    Optional<RoundCommit> latest = log.latestCommit();
    Outcome opened = new Outcome.Idle();
    if (latest.isEmpty()) {
      if (description == null || initialWeights == null) {
        throw new IllegalStateException("run " + topics.runId() + " has not started: it has no "
            + "committed round, and starting it needs its model description and initial weights");
      }
      refuseADescriptionWrittenByAnother();
      rounds = new OuterRounds(key == null ? description : ModelDescription.newBuilder(
          description).setCommitKey(ByteBuffer.wrap(key.getPublic().getEncoded())).build(),
          schedule, System::currentTimeMillis);
      publisher.signWith(key == null ? null : key.getPrivate());
      opened = publish(rounds.start(initialWeights), true);
      if (opened instanceof Outcome.Aborted failed) {
        throw new IllegalStateException("publishing round 0 of run " + topics.runId()
            + " failed: " + failed.cause().getMessage(), failed.cause());
      }
      if (opened instanceof Outcome.Committed && !rounds.model().equals(firstDescription())) {
        throw new IllegalStateException("run " + topics.runId() + ": another model description "
            + "reached " + topics.model() + " just before this optimizer's, and the first one "
            + "counts: start the run again under a new run id");
      }
    } else {
      ModelDescription published = log.model().orElseThrow(() -> new IllegalStateException(
          "run " + topics.runId() + " has commits but no model description on " + topics.model()));
      if (description != null && !description.getLayout().equals(published.getLayout())) {
        throw new IllegalStateException("run " + topics.runId() + " exists with another parameter "
            + "layout than the one given: start a new run id, or resume without a description");
      }
      rounds = new OuterRounds(published, schedule, System::currentTimeMillis);
      publisher.signWith(signerFor(published));
      resume(latest.get());
    }
    sums.assign();
    return opened;
  }

  /**
   * A run that has no committed round cannot have a description of its optimizer's: the
   * optimizer writes its description and round 0 in one transaction. One already there was
   * written by someone else, and would be the run's (the first one counts), with its key.
   */
  private void refuseADescriptionWrittenByAnother() {
    if (log.model().isPresent()) {
      throw new IllegalStateException("run " + topics.runId() + " already has a model "
          + "description on " + topics.model() + " but no committed round: this optimizer did "
          + "not write it (it writes both at once), and readers would trust its key. Start the "
          + "run under a new run id, or delete the run's topics first");
    }
  }

  /**
   * The run's first description, once this optimizer's own is readable: a committed
   * transaction's records reach read_committed readers a moment after the commit returns.
   */
  private ModelDescription firstDescription() {
    long deadline = System.nanoTime() + KafkaClientConfig.READ_TIMEOUT.toNanos();
    Optional<ModelDescription> first = log.model();
    while (first.isEmpty() && System.nanoTime() < deadline) {
      java.util.concurrent.locks.LockSupport.parkNanos(50_000_000L);
      first = log.model();
    }
    return first.orElse(null);
  }

  /** Makes a blocked {@link #pollOnce} return at once (from another thread, to stop). */
  public void wakeup() {
    sums.wakeup();
  }

  /** The newest committed round. */
  public int round() {
    return rounds == null ? -1 : rounds.round();
  }

  /** The newest committed round's commit, once {@link #open}ed. */
  public RoundCommit newestCommit() {
    return newest;
  }

  /** Reads and acts on what arrived within {@code timeout}; {@code Fenced} for good once fenced. */
  public Outcome pollOnce(Duration timeout) {
    if (fenced != null) {
      return fenced;
    }
    Outcome polled = new Outcome.Idle();
    for (ConsumerRecord<byte[], byte[]> r : sums.poll(timeout)) {
      sums.consumed(r);
      RecordPlace at = new RecordPlace(r.topic(), r.partition(), r.offset());
      OuterRounds.Decision decision = r.topic().equals(topics.reduced())
          ? rounds.onSum(at, r.key(), r.value()) : rounds.onFailure(at, r.key(), r.value());
      if (decision instanceof OuterRounds.Publish publish) {
        Outcome now = publish(publish, false);
        if (!(now instanceof Outcome.Committed)) {
          return now; // aborted: the consumer went back, this batch is stale; or fenced
        }
        polled = now;
      }
    }
    if (rounds.onClock() instanceof OuterRounds.Publish held) {
      return publish(held, false);
    }
    return polled;
  }

  /** Publishes the round {@code decision} asks for, and acts on what became of it. */
  private Outcome publish(OuterRounds.Publish decision, boolean withModel) {
    RoundPublisher.Round round = rounds.next(decision);
    long started = System.currentTimeMillis();
    Outcome outcome = publisher.publish(rounds.model(), withModel, rounds.plan(), round,
        rounds.refusals(), sums.consumed(), sums.group());
    if (outcome instanceof Outcome.Committed c) {
      rounds.committed(decision, c.commit().getCommittedAtMs());
      newest = c.commit();
      LOG.info("run {}: committed round {} ({}) in {} ms", topics.runId(), round.number(),
          round.outcome(), System.currentTimeMillis() - started);
    } else if (outcome instanceof Outcome.Aborted a) {
      LOG.warn("run {}: publishing round {} aborted ({}); back to round {}", topics.runId(),
          round.number(), a.cause().toString(), rounds.round());
      if (rounds.round() >= 0) {
        resume(log.latestCommit().orElseThrow());
        sums.seekToCommitted();
      }
    } else if (outcome instanceof Outcome.Fenced f) {
      LOG.error("run {}: {}", topics.runId(), f.message());
      fenced = f;
    }
    return outcome;
  }

  /** The key to sign a run's commits with: the run's own, which this optimizer must hold. */
  private PrivateKey signerFor(ModelDescription run) {
    if (run.getCommitKey() == null) {
      if (key != null) {
        LOG.warn("run {} was started unsigned: its commits stay unsigned", topics.runId());
      }
      return null;
    }
    if (key == null || !ByteBuffer.wrap(key.getPublic().getEncoded()).equals(run.getCommitKey())) {
      throw new IllegalStateException("run " + topics.runId() + " signs its commits with a key "
          + (key == null ? "this optimizer was not given" : "other than this optimizer's")
          + ": resume it with the key it was started with (diloco optimizer --key FILE)");
    }
    return key.getPrivate();
  }

  /** Loads the committed weights and momentum of {@code commit}: the state after a restart. */
  private void resume(RoundCommit commit) {
    rounds.resume(commit, log.weights(commit, rounds.plan()),
        log.momentum(commit.getRound(), rounds.plan()));
    newest = commit;
    LOG.info("run {}: resumed at round {}", topics.runId(), commit.getRound());
  }

  @Override
  public void close() {
    try {
      sums.close();
    } finally {
      publisher.close();
    }
  }
}
