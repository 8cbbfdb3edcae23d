package dev.diloco.worker;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.RoundStats;
import dev.diloco.schemas.WorkerHeartbeat;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A worker's heartbeats: JOIN, ALIVE (with its last round's report) and LEAVE, on the run's
 * membership topic for everyone to read. A worker with a topic of its own, which only its
 * principal may write, also announces each one on every partition of that topic, ahead of its
 * chunks there: the reducer believes those alone for it (the shared topic can be written by
 * any worker, so there one could speak for another).
 */
final class Heartbeats implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Heartbeats.class);
  /** How long a stopping worker waits to say it leaves: the cluster may not answer. */
  static final Duration LEAVE_BOUND = Duration.ofSeconds(3);

  private final RunTopics topics;
  private final String workerId;
  private final String ownTopic;
  private final int ownPartitions;
  private final long incarnation = System.currentTimeMillis();
  private final AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);
  private final KafkaProducer<byte[], byte[]> producer;

  /** {@code ownTopic}: the worker's own chunk topic with its partitions, or null for none. */
  Heartbeats(RunTopics topics, String workerId, String ownTopic, int ownPartitions,
      KafkaClientConfig clients) {
    this.topics = topics;
    this.workerId = workerId;
    this.ownTopic = ownTopic;
    this.ownPartitions = ownPartitions;
    this.producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
        new ByteArraySerializer());
  }

  /** Announces {@code kind} for {@code round} and waits until every copy is written. */
  void announce(HeartbeatKind kind, int round, RoundStats report) {
    try {
      for (Future<RecordMetadata> f : send(kind, round, report)) {
        f.get();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException e) {
      throw new IllegalStateException("worker " + workerId + " cannot announce " + kind
          + " for round " + round + ": " + e.getCause().getMessage(), e.getCause());
    }
  }

  /**
   * Announces that the worker leaves before {@code round}, waiting at most {@link #LEAVE_BOUND}
   * (a stopping worker does not wait on a cluster that does not answer), and says so if not.
   */
  void leave(int round) {
    if (!tryAnnounce(HeartbeatKind.LEAVE, round, LEAVE_BOUND)) {
      LOG.warn("worker {}: could not announce within {} that it leaves (before round {}): the "
          + "cluster does not answer; the reducer waits its member grace for this worker",
          workerId, LEAVE_BOUND, round);
    }
  }

  /** Announces {@code kind} for {@code round}, waiting at most {@code bound}: whether it went. */
  private boolean tryAnnounce(HeartbeatKind kind, int round, Duration bound) {
    // On its own thread: without the cluster, send() itself blocks (on metadata) for up to the
    // producer's max.block.ms. If the bound passes, closing the producer ends that thread.
    FutureTask<Boolean> sending = new FutureTask<>(() -> {
      for (Future<RecordMetadata> f : send(kind, round, null)) {
        f.get();
      }
      return true;
    });
    Thread thread = new Thread(sending, "heartbeat-" + kind.name().toLowerCase());
    thread.setDaemon(true);
    thread.start();
    try {
      return sending.get(bound.toNanos(), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } catch (ExecutionException | TimeoutException e) {
      return false;
    }
  }

  private List<Future<RecordMetadata>> send(HeartbeatKind kind, int round, RoundStats report) {
    byte[] value = serde.encode(heartbeat(kind, round, report, null));
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    sent.add(producer.send(new ProducerRecord<>(topics.membership(), key(), value)));
    for (int p = 0; ownTopic != null && p < ownPartitions; p++) {
      sent.add(producer.send(new ProducerRecord<>(ownTopic, p, key(), value)));
    }
    return sent;
  }

  /**
   * Inner steps done so far, not waited for: for whoever shows progress, and on the worker's
   * own topic for the reducer, which then knows it is training and waits for it, however slow.
   */
  void progress(int round, int step) {
    byte[] value = serde.encode(heartbeat(HeartbeatKind.ALIVE, round, null, step));
    producer.send(new ProducerRecord<>(topics.membership(), key(), value));
    for (int p = 0; ownTopic != null && p < ownPartitions; p++) {
      producer.send(new ProducerRecord<>(ownTopic, p, key(), value));
    }
  }

  private WorkerHeartbeat heartbeat(HeartbeatKind kind, int round, RoundStats report,
      Integer step) {
    return new WorkerHeartbeat(topics.runId(), workerId, kind, round, incarnation, host(),
        System.currentTimeMillis(), report, step);
  }

  private byte[] key() {
    return workerId.getBytes(StandardCharsets.UTF_8);
  }

  private static String host() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "unknown";
    }
  }

  @Override
  public void close() {
    // What is not out by then is a heartbeat, not a round.
    producer.close(WorkerClients.CLOSE_BOUND);
  }
}
