package dev.diloco.core.kafka;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.TopicConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Client settings for every producer, consumer and admin of a run: the connection (bootstrap
 * servers and whatever a {@code .properties} file says: SASL_SSL for a managed cluster is just a
 * file) plus the settings that let 1 to 16 MiB records through. A file may raise the
 * large-record limits, never lower them below what the run's records need.
 */
public final class KafkaClientConfig {

  private static final Logger LOG = LoggerFactory.getLogger(KafkaClientConfig.class);

  /** The largest record the system writes by default: a reduced chunk is 8 bytes an element. */
  public static final int DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;
  /**
   * How long a reader waits for the broker before it gives up on a read (a round's weights, a
   * partition to its end): long enough for a slow or remote cluster, short enough that a lost
   * one is named within a minute.
   */
  public static final java.time.Duration READ_TIMEOUT = java.time.Duration.ofSeconds(60);

  /** Room above a record's value for its key, headers and batch framing. */
  public static final int RECORD_OVERHEAD_BYTES = 1024 * 1024;

  private final Map<String, String> connection;
  private final int maxRecordBytes;

  private KafkaClientConfig(Map<String, String> connection, int maxRecordBytes) {
    this.connection = Map.copyOf(connection);
    this.maxRecordBytes = maxRecordBytes;
  }

  /**
   * Settings from {@code bootstrapServers} (may be null when the file names them) and an
   * optional client properties file (may be null). Bootstrap servers given here win over the
   * file's.
   */
  public static KafkaClientConfig load(String bootstrapServers, Path propertiesFile,
      int maxRecordBytes) {
    if (maxRecordBytes < 1024) {
      throw new IllegalArgumentException("maxRecordBytes must be >= 1024, got " + maxRecordBytes);
    }
    Map<String, String> settings = new HashMap<>();
    if (propertiesFile != null) {
      settings.putAll(readProperties(propertiesFile));
    }
    if (bootstrapServers != null && !bootstrapServers.isBlank()) {
      settings.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers.trim());
    }
    if (!settings.containsKey(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG)) {
      throw new IllegalArgumentException("no Kafka bootstrap servers: give them as HOST:PORT[,...]"
          + (propertiesFile == null ? "" : " or set bootstrap.servers in " + propertiesFile));
    }
    return new KafkaClientConfig(settings, maxRecordBytes);
  }

  /** Settings for a cluster at {@code bootstrapServers} with nothing else to say. */
  public static KafkaClientConfig of(String bootstrapServers) {
    return load(Objects.requireNonNull(bootstrapServers, "bootstrapServers"), null,
        DEFAULT_MAX_RECORD_BYTES);
  }

  /** Settings for a cluster with these connection settings (e.g. an authenticated user's). */
  public static KafkaClientConfig of(Map<String, String> connection) {
    if (!connection.containsKey(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG)) {
      throw new IllegalArgumentException("no Kafka bootstrap servers in " + connection.keySet());
    }
    return new KafkaClientConfig(connection, DEFAULT_MAX_RECORD_BYTES);
  }

  public String bootstrapServers() {
    return connection.get(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
  }

  public int maxRecordBytes() {
    return maxRecordBytes;
  }

  /** Bytes a request, fetch or topic must allow for one record of the largest size. */
  public int recordLimitBytes() {
    return maxRecordBytes + RECORD_OVERHEAD_BYTES;
  }

  /**
   * The connection settings alone, for an admin client; with every client's, the reporter that
   * totals bytes by topic ({@link TopicBytes}), after any the properties file names.
   */
  public Map<String, Object> admin() {
    Map<String, Object> a = new HashMap<>(connection);
    String reporters = connection.getOrDefault(CommonClientConfigs.METRIC_REPORTER_CLASSES_CONFIG,
        "").trim();
    if (!reporters.contains(TopicBytes.class.getName())) {
      a.put(CommonClientConfigs.METRIC_REPORTER_CLASSES_CONFIG, reporters.isEmpty()
          ? TopicBytes.class.getName() : reporters + "," + TopicBytes.class.getName());
    }
    return a;
  }

  /** An idempotent producer that can send the largest record. */
  public Map<String, Object> producer() {
    Map<String, Object> p = admin();
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    atLeast(p, ProducerConfig.MAX_REQUEST_SIZE_CONFIG, recordLimitBytes());
    // Room for a few large records in flight, so a send does not block on the first one.
    atLeast(p, ProducerConfig.BUFFER_MEMORY_CONFIG, 4L * recordLimitBytes());
    return p;
  }

  /** A transactional producer: fenced when another one starts with the same id. */
  public Map<String, Object> transactionalProducer(String transactionalId) {
    Map<String, Object> p = producer();
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG,
        Objects.requireNonNull(transactionalId, "transactionalId"));
    return p;
  }

  /** A consumer that sees committed records only and can fetch the largest record. */
  public Map<String, Object> consumer(String groupId) {
    Map<String, Object> c = admin();
    if (groupId != null) {
      c.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
    }
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    atLeast(c, ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, recordLimitBytes());
    atLeast(c, ConsumerConfig.FETCH_MAX_BYTES_CONFIG, recordLimitBytes());
    return c;
  }

  /**
   * A consumer that reads partitions to their ends one after another (an audit, a round being
   * loaded): as {@link #consumer}, except that the broker holds a fetch that finds no data for
   * 10 ms instead of 500. A consumer switching to the next partition waits for its fetch in
   * flight, and at a partition's end that fetch finds none.
   */
  public Map<String, Object> scanner() {
    Map<String, Object> c = consumer(null);
    c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "10");
    return c;
  }

  /** Settings for the run's topics, so the broker accepts the largest record. */
  public Map<String, String> topic() {
    return Map.of(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, Integer.toString(recordLimitBytes()));
  }

  private static void atLeast(Map<String, Object> config, String key, long minimum) {
    Object given = config.get(key);
    if (given != null) {
      long value;
      try {
        value = Long.parseLong(given.toString().trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(key + " must be a number of bytes, got '" + given + "'");
      }
      if (value >= minimum) {
        return;
      }
      LOG.warn("{}={} is too small for records of this run; using {}", key, value, minimum);
    }
    config.put(key, Long.toString(minimum));
  }

  private static Map<String, String> readProperties(Path file) {
    if (!Files.exists(file)) {
      throw new IllegalArgumentException("Kafka client properties file " + file
          + " does not exist");
    }
    if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
      throw new IllegalArgumentException("Kafka client properties file " + file
          + " is not a readable file");
    }
    Properties props = new Properties();
    try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      props.load(in);
    } catch (IOException | IllegalArgumentException e) {
      throw new IllegalArgumentException("cannot read Kafka client properties file " + file
          + ": " + e.getMessage(), e);
    }
    Map<String, String> map = new HashMap<>();
    props.stringPropertyNames().forEach(k -> map.put(k, props.getProperty(k).trim()));
    return map;
  }
}
