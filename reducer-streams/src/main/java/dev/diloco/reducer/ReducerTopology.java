package dev.diloco.reducer;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunAcls;
import dev.diloco.core.kafka.RunTopics;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;
import java.util.Properties;
import java.util.function.Supplier;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.state.Stores;

/**
 * The reducer of one run: pseudo-gradient chunks in, exact sums out.
 *
 * <pre>
 *   model, commits, membership ──► global stores (every task sees the run's plan, open round, members)
 *   pseudograds[.worker] ──► route ──► sum ──► reduced    one exact sum per (round, chunk)
 *                              │          ├─► round-failures   a round that missed its quorum
 *                              │          └─► deadletter       a chunk not to sum, and why
 *                              └─► announcements ──► deadletter   a worker's own heartbeats
 * </pre>
 */
public final class ReducerTopology {

  private ReducerTopology() {}

  /**
   * The topology of {@code config}'s run; a task that starts re-reads the chunks of its open
   * sums from {@code clients}' cluster; {@code metrics}: where the reducer's meters go.
   */
  public static Topology build(ReducerConfig config, KafkaClientConfig clients,
      MeterRegistry metrics) {
    return build(config, () -> ContributionReader.kafka(clients), metrics);
  }

  /** {@code readers}: how a task re-reads the chunks of its open sums when it starts. */
  static Topology build(ReducerConfig config, Supplier<ContributionReader> readers,
      MeterRegistry metrics) {
    RunTopics topics = config.topics();
    Topology topology = new Topology();
    ByteArrayDeserializer bytes = new ByteArrayDeserializer();

    // The run's facts must be seen by every task whatever chunks it owns: global stores,
    // rebuilt from their topics at start, so they need no changelog of their own.
    topology.addGlobalStore(globalStore(RunView.MODEL), "model-source", bytes, bytes,
        topics.model(), "model-updater", () -> new RunView.ModelUpdater(config.runId()));
    topology.addGlobalStore(globalStore(RunView.COMMITS), "commits-source", bytes, bytes,
        topics.commits(), "commits-updater", () -> new RunView.CommitUpdater(config.runId()));
    topology.addGlobalStore(globalStore(RunView.MEMBERS), "membership-source", bytes, bytes,
        topics.membership(), "membership-updater", () -> new RunView.MemberUpdater(config.runId()));

    // The Processor API, not the DSL: one record may update a sum, emit it, or be rejected to
    // another topic, and the deadline is a wall-clock punctuation.
    // The shared chunk topic and every worker's own (on clusters with authentication), all
    // partitioned alike: chunk i of every worker meets in the task of partition i % P.
    topology.addSource("chunks", bytes, bytes, topics.pseudoGradientTopics());
    ReducerMetrics meters = new ReducerMetrics(metrics, config.runId());
    // A worker's own topic carries its heartbeats and its chunks: each to its own processor,
    // in the order they came.
    topology.addProcessor("route", () -> new RecordRouter(topics), "chunks");
    topology.addProcessor(RecordRouter.SUMS, () -> new ChunkSumProcessor(config, readers,
        meters), "route");
    topology.addProcessor(RecordRouter.ANNOUNCEMENTS, () -> new AnnouncementProcessor(config,
        meters), "route");
    String[] both = {RecordRouter.SUMS, RecordRouter.ANNOUNCEMENTS};

    // Changelogged for exactly-once recovery, and small: a pointer into the input topic per
    // open contribution, and a mark per closed chunk. Caching coalesces a sum's pointers and
    // their deletion within a commit interval.
    topology.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(ReducerStores.POINTERS), Serdes.String(),
            Serdes.ByteArray())
        .withCachingEnabled().withLoggingEnabled(Map.of()), both);
    topology.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(ReducerStores.CLOSED), Serdes.String(),
            Serdes.Long())
        .withCachingEnabled().withLoggingEnabled(Map.of()), both);
    // Who announced itself on its own topic, and for which rounds: a restarted task resumes
    // after the announcements, so it must find them here (see Members).
    topology.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(ReducerStores.OWN_MEMBERS), Serdes.String(),
            Serdes.ByteArray())
        .withCachingEnabled().withLoggingEnabled(Map.of()), both);

    ByteArraySerializer out = new ByteArraySerializer();
    // Sum i goes to the partition of chunk i, as the chunks came.
    topology.addSink(ChunkSumProcessor.REDUCED_SINK, topics.reduced(), out, out,
        new ChunkPartitioner(topics), "sum");
    topology.addSink(ChunkSumProcessor.FAILURES_SINK, topics.roundFailures(), out, out, "sum");
    topology.addSink(DeadLetterSink.NAME, topics.deadLetters(), out, out, both);
    return topology;
  }

  /** Settings of the reducer's Kafka Streams app: exactly-once, and room for large records. */
  public static Properties streamsConfig(ReducerConfig config, KafkaClientConfig clients,
      String stateDir) {
    Properties p = new Properties();
    p.putAll(clients.admin());
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, RunAcls.reducerApplicationId(config.runId()));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 256L * 1024 * 1024);
    p.put("processing.exception.handler.global.enabled", "true");
    // One thread per core, up to one per partition: the sums of different chunks are
    // independent.
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG,
        Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), config.chunkPartitions())));
    clients.producer().forEach((k, v) -> p.put(StreamsConfig.producerPrefix(k), v));
    clients.consumer(null).forEach((k, v) -> p.put(StreamsConfig.consumerPrefix(k), v));
    p.remove(StreamsConfig.producerPrefix("enable.idempotence"));
    // A worker's own topic created while the reducer runs is subscribed within this time.
    p.put(StreamsConfig.consumerPrefix("metadata.max.age.ms"), "10000");
    p.put(StreamsConfig.topicPrefix("max.message.bytes"),
        Integer.toString(clients.recordLimitBytes()));
    return p;
  }

  private static org.apache.kafka.streams.state.StoreBuilder<?> globalStore(String name) {
    return Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(name), Serdes.String(),
        Serdes.ByteArray()).withLoggingDisabled();
  }

  /** Partition of a record keyed by a chunk index: {@link RunTopics#partitionOf}. */
  private record ChunkPartitioner(RunTopics topics)
      implements org.apache.kafka.streams.processor.StreamPartitioner<byte[], byte[]> {

    @Override
    public java.util.Optional<java.util.Set<Integer>> partitions(String topic, byte[] key,
        byte[] value, org.apache.kafka.common.header.Headers headers, int partitions) {
      return java.util.Optional.of(java.util.Set.of(
          topics.partitionOf(RunTopics.chunkIndexOf(key), partitions)));
    }

    // Still abstract in Kafka 4.4, though deprecated for the variant with headers above.
    @SuppressWarnings("removal")
    @Override
    public java.util.Optional<java.util.Set<Integer>> partitions(String topic, byte[] key,
        byte[] value, int partitions) {
      return partitions(topic, key, value, null, partitions);
    }
  }
}
