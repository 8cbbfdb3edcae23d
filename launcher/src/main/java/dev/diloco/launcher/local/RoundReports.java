package dev.diloco.launcher.local;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.schemas.RoundStats;
import dev.diloco.schemas.WorkerHeartbeat;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * What the workers say on the membership topic, as the local run shows it: each worker's inner
 * steps in the round under way (progress heartbeats), and each worker's report of a round it
 * published (its losses, bytes, compute and wait).
 */
final class RoundReports implements AutoCloseable {

  private final KafkaConsumer<byte[], byte[]> consumer;
  private final AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);
  /** Each worker's (round, inner steps done). */
  private final Map<String, int[]> steps = new TreeMap<>();
  private final Map<Integer, List<RoundStats>> reports = new HashMap<>();

  private final BiConsumer<String, RoundStats> onReport;

  /** {@code onReport}: told of every worker's report as it arrives. */
  RoundReports(RunTopics topics, KafkaClientConfig clients,
      BiConsumer<String, RoundStats> onReport) {
    this.onReport = onReport;
    this.consumer = new KafkaConsumer<>(clients.consumer(null), new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
    consumer.assign(List.of(new TopicPartition(topics.membership(), 0)));
    consumer.seekToBeginning(consumer.assignment());
  }

  /** Reads what arrived within {@code wait}. */
  void poll(Duration wait) {
    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(wait)) {
      WorkerHeartbeat h;
      try {
        h = serde.decode(r.value());
      } catch (SerializationException | NullPointerException unreadable) {
        continue; // not a heartbeat: nothing to show
      }
      if (h.getInnerStep() != null) {
        steps.put(h.getWorkerId(), new int[] {h.getRound(), h.getInnerStep()});
      }
      if (h.getReport() != null) {
        reports.computeIfAbsent(h.getReport().getRound(), k -> new ArrayList<>())
            .add(h.getReport());
        onReport.accept(h.getWorkerId(), h.getReport());
      }
    }
  }

  /**
   * The reports of {@code round}, after waiting up to {@code wait} for {@code expected} of them
   * (a worker reports a round after publishing it, so a report may trail the commit).
   */
  List<RoundStats> of(int round, int expected, Duration wait) {
    long deadline = System.nanoTime() + wait.toNanos();
    poll(Duration.ZERO);
    while (reports.getOrDefault(round, List.of()).size() < expected
        && System.nanoTime() < deadline) {
      poll(Duration.ofMillis(100));
    }
    return reports.getOrDefault(round, List.of());
  }

  /** Each worker's inner steps done in {@code round} (0 for a worker on another round). */
  Map<String, Integer> steps(int round) {
    Map<String, Integer> done = new TreeMap<>();
    steps.forEach((worker, at) -> done.put(worker, at[0] == round ? at[1] : 0));
    return done;
  }

  @Override
  public void close() {
    consumer.close();
  }
}
