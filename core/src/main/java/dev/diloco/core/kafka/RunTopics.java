package dev.diloco.core.kafka;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;

/**
 * The names of a run's topics: the one place they are made. Every topic of run {@code R} is
 * {@code diloco.R.<kind>}, so runs share a cluster without clashing and an ACL prefix covers a run.
 */
public record RunTopics(String runId) {

  public static final String PREFIX = "diloco.";

  private static final Pattern RUN_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,99}");
  private static final Pattern WORKER_ID = Pattern.compile("[A-Za-z0-9_-]{1,100}");

  public RunTopics {
    Objects.requireNonNull(runId, "runId");
    if (!RUN_ID.matcher(runId).matches()) {
      throw new IllegalArgumentException("run id '" + runId + "' is not valid: use 1 to 100 "
          + "letters, digits, '_' or '-', starting with a letter or digit");
    }
  }

  /** The run whose model topic {@code topic} is, if it is one. */
  public static java.util.Optional<String> runOfModelTopic(String topic) {
    String suffix = ".model";
    if (topic.startsWith(PREFIX) && topic.endsWith(suffix)) {
      String id = topic.substring(PREFIX.length(), topic.length() - suffix.length());
      if (RUN_ID.matcher(id).matches()) {
        return java.util.Optional.of(id);
      }
    }
    return java.util.Optional.empty();
  }

  /** The run's model description (key = run id): written once, with round 0. */
  public String model() {
    return name("model");
  }

  /** Workers' pseudo-gradient chunks (key = chunk index, so chunk i of every worker meets). */
  public String pseudoGradients() {
    return name("pseudograds");
  }

  /**
   * Worker {@code workerId}'s own pseudo-gradient topic, for clusters with authentication: ACLs
   * let only that worker's principal write it, so a chunk on it comes from that worker, and
   * the reducer rejects one that names another worker. Partitioned as
   * {@link #pseudoGradients()}. Worker ids for it are letters, digits, '_' and '-'.
   */
  public String workerPseudoGradients(String workerId) {
    if (!canNameTopic(workerId)) {
      throw new IllegalArgumentException("worker id '" + workerId + "' cannot name a topic: "
          + "use 1 to 100 letters, digits, '_' or '-'");
    }
    return pseudoGradients() + "." + workerId;
  }

  /** Whether {@code workerId} can name a topic of its own. */
  public static boolean canNameTopic(String workerId) {
    return workerId != null && WORKER_ID.matcher(workerId).matches();
  }

  /** The shared pseudo-gradient topic and every worker's own: what the reducer reads. */
  public Pattern pseudoGradientTopics() {
    return Pattern.compile(Pattern.quote(pseudoGradients()) + "(\\." + WORKER_ID.pattern()
        + ")?");
  }

  /** The worker whose own topic {@code topic} is; empty for the shared topic or another. */
  public java.util.Optional<String> workerOf(String topic) {
    String prefix = pseudoGradients() + ".";
    if (topic.startsWith(prefix) && WORKER_ID.matcher(topic.substring(prefix.length())).matches()) {
      return java.util.Optional.of(topic.substring(prefix.length()));
    }
    return java.util.Optional.empty();
  }

  /**
   * The partition of {@link #pseudoGradients()} (and of {@link #reduced()}) that chunk
   * {@code chunkIndex} goes to: workers send there explicitly, so every worker's chunk i meets
   * in one partition, and a reducer task knows which chunks are its own.
   */
  public int partitionOf(int chunkIndex, int partitions) {
    if (chunkIndex < 0 || partitions < 1) {
      throw new IllegalArgumentException("chunk " + chunkIndex + " of " + partitions
          + " partitions");
    }
    return chunkIndex % partitions;
  }

  /**
   * The record key of chunk {@code index} on every chunk topic: 4 bytes, big-endian. Workers,
   * the reducer and the optimizer all key chunks this way.
   */
  public static byte[] chunkKey(int index) {
    return java.nio.ByteBuffer.allocate(4).putInt(index).array();
  }

  /** The chunk index of a record keyed by {@link #chunkKey}. */
  public static int chunkIndexOf(byte[] key) {
    if (key == null || key.length != 4) {
      throw new IllegalArgumentException("a chunk record's key is 4 bytes, got "
          + (key == null ? "none" : key.length + " bytes"));
    }
    return java.nio.ByteBuffer.wrap(key).getInt();
  }

  /** The reducer's exact sums, one record per (round, chunk). */
  public String reduced() {
    return name("reduced");
  }

  /** Global weights chunks of each round, written with the round's commit in one transaction. */
  public String weights() {
    return name("weights");
  }

  /** One commit record per round, after its weights chunks. */
  public String commits() {
    return name("commits");
  }

  /** Worker joins, heartbeats and leaves. */
  public String membership() {
    return name("membership");
  }

  /** The reducer's reports of rounds that closed without a quorum. */
  public String roundFailures() {
    return name("round-failures");
  }

  /** The outer optimizer's momentum, compacted (key = chunk index). */
  public String optimizerState() {
    return name("optimizer-state");
  }

  /** Records kept out of the computation, with the reason. */
  public String deadLetters() {
    return name("deadletter");
  }

  public List<String> all() {
    return List.of(model(), pseudoGradients(), reduced(), weights(), commits(), membership(),
        roundFailures(), optimizerState(), deadLetters());
  }

  /**
   * The run's topics as they should be created. The topics that carry chunks keyed by chunk
   * index get {@code chunkPartitions} partitions, so the work spreads over reducer instances;
   * weights and commits have one partition, so a round's chunks and its commit stay in order.
   * The audit trail (the model description, chunks, sums, weights, commits) is kept forever;
   * the optimizer's state is compacted to its latest values.
   */
  public List<NewTopic> newTopics(int chunkPartitions, short replication,
      KafkaClientConfig clients) {
    return newTopics(chunkPartitions, replication, clients, KEEP_FOREVER);
  }

  /** Retention that keeps records forever: the audit trail of a run. */
  public static final long KEEP_FOREVER = -1;

  /** The shortest retention a run's topics may have. */
  public static final long MIN_RETENTION_MS = 3_600_000L;

  /** {@code retentionMs} if a run's topics may have it: for ever, or at least an hour. */
  public static long requireRetention(long retentionMs) {
    if (retentionMs != KEEP_FOREVER && retentionMs < MIN_RETENTION_MS) {
      throw new IllegalArgumentException("retention must be at least 1 h (" + MIN_RETENTION_MS
          + " ms) or for ever, got " + retentionMs + " ms: a round's chunks, sums and weights "
          + "must outlive the round, and a restarted reducer reads its open chunks again");
    }
    return retentionMs;
  }

  /**
   * As {@link #newTopics(int, short, KafkaClientConfig)}, with the audit trail kept
   * {@code retentionMs} milliseconds ({@link #KEEP_FOREVER}: for ever). A run whose chunks have
   * expired can still be inspected and replayed from its oldest remaining round on.
   */
  public List<NewTopic> newTopics(int chunkPartitions, short replication,
      KafkaClientConfig clients, long retentionMs) {
    return newTopics(chunkPartitions, replication, clients, retentionMs, List.of());
  }

  /** As above, and each of {@code workers}' own pseudo-gradient topic. */
  public List<NewTopic> newTopics(int chunkPartitions, short replication,
      KafkaClientConfig clients, long retentionMs, List<String> workers) {
    requireRetention(retentionMs);
    if (chunkPartitions < 1) {
      throw new IllegalArgumentException("chunkPartitions must be >= 1, got " + chunkPartitions);
    }
    List<NewTopic> list = new ArrayList<>();
    long keep = retentionMs;
    // Kept for ever, whatever the audit trail's retention, and not compacted: the first
    // description holds the key of the run's signed commits, and compaction keeps the last.
    list.add(topic(model(), 1, replication, clients, null, KEEP_FOREVER));
    list.add(topic(pseudoGradients(), chunkPartitions, replication, clients, null, keep));
    list.add(topic(reduced(), chunkPartitions, replication, clients, null, keep));
    list.add(topic(weights(), 1, replication, clients, null, keep));
    list.add(topic(commits(), 1, replication, clients, null, keep));
    list.add(topic(membership(), 1, replication, clients, null, keep));
    list.add(topic(roundFailures(), 1, replication, clients, null, keep));
    list.add(topic(optimizerState(), 1, replication, clients, TopicConfig.CLEANUP_POLICY_COMPACT,
        keep));
    list.add(topic(deadLetters(), 1, replication, clients, null, keep));
    for (String worker : workers) {
      list.add(topic(workerPseudoGradients(worker), chunkPartitions, replication, clients, null,
          keep));
    }
    return list;
  }

  /**
   * Replicas that must have a write before it is acknowledged, for topics of
   * {@code replication} replicas: a majority of three or more, so one broker may be down; one
   * below three (the broker's own default decides then, for the run's topics).
   */
  public static int minInsyncReplicas(int replication) {
    return replication >= 3 ? replication / 2 + 1 : 1;
  }

  private static NewTopic topic(String name, int partitions, short replication,
      KafkaClientConfig clients, String compact, long retentionMs) {
    Map<String, String> configs = new HashMap<>(clients.topic());
    if (replication >= 3) {
      configs.put(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG,
          Integer.toString(minInsyncReplicas(replication)));
    }
    if (compact != null) {
      configs.put(TopicConfig.CLEANUP_POLICY_CONFIG, compact);
    } else {
      configs.put(TopicConfig.RETENTION_MS_CONFIG, Long.toString(retentionMs));
      configs.put(TopicConfig.RETENTION_BYTES_CONFIG, "-1");
    }
    return new NewTopic(name, partitions, replication).configs(configs);
  }

  private String name(String kind) {
    return PREFIX + runId + "." + kind;
  }
}
