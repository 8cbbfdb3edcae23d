package dev.diloco.core.kafka;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.function.Consumer;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.MetricsReporter;

/**
 * The bytes this process's Kafka clients wrote to and read from each topic, totalled over all
 * of them, as the clients themselves measure it: a {@link MetricsReporter} that every client of
 * {@link KafkaClientConfig} carries. A client's totals outlive it (they are counters), so a
 * consumer opened to read one round adds to the same totals as a long-lived one.
 */
public final class TopicBytes implements MetricsReporter {

  /** Which way the bytes went. */
  public enum Direction { SENT, RECEIVED }

  /** A topic as the client's metric names it, and the direction. */
  public record Key(String topicTag, Direction direction) {}

  // A producer's per-topic record bytes, and a consumer's fetched bytes per topic (whose tag
  // has the topic's dots as underscores: Kafka's own naming).
  private static final String PRODUCER_GROUP = "producer-topic-metrics";
  private static final String PRODUCER_TOTAL = "byte-total";
  private static final String CONSUMER_GROUP = "consumer-fetch-manager-metrics";
  private static final String CONSUMER_TOTAL = "bytes-consumed-total";

  private static final Map<KafkaMetric, Key> LIVE = new ConcurrentHashMap<>();
  private static final Map<Key, DoubleAdder> CLOSED = new ConcurrentHashMap<>();
  private static final Set<Key> SEEN = ConcurrentHashMap.newKeySet();
  private static final List<Consumer<Key>> WATCHERS = new CopyOnWriteArrayList<>();

  /** This client's metrics: a closing client does not remove them one by one. */
  private final Set<KafkaMetric> mine = ConcurrentHashMap.newKeySet();

  /**
   * Calls {@code watcher} once with every key seen so far and every new one from now on (a
   * topic a client first writes or reads), so that a meter can be made for it.
   */
  public static synchronized void watch(Consumer<Key> watcher) {
    WATCHERS.add(watcher);
    SEEN.forEach(watcher);
  }

  /** Stops calling {@code watcher}. */
  public static void unwatch(Consumer<Key> watcher) {
    WATCHERS.remove(watcher);
  }

  /** Bytes so far for {@code key}, of open clients and of closed ones. */
  public static double total(Key key) {
    DoubleAdder closed = CLOSED.get(key);
    double sum = closed == null ? 0 : closed.sum();
    for (Map.Entry<KafkaMetric, Key> e : LIVE.entrySet()) {
      if (e.getValue().equals(key)) {
        sum += value(e.getKey());
      }
    }
    return sum;
  }

  /** The tag a client's metrics give {@code topic}, to find a topic's key by its name. */
  public static String tagOf(String topic, Direction direction) {
    return direction == Direction.RECEIVED ? topic.replace('.', '_') : topic;
  }

  @Override
  public void init(List<KafkaMetric> metrics) {
    metrics.forEach(this::metricChange);
  }

  @Override
  public void metricChange(KafkaMetric metric) {
    Key key = keyOf(metric);
    if (key == null) {
      return;
    }
    LIVE.put(metric, key);
    mine.add(metric);
    // Under the lock watch() takes: a watcher added meanwhile hears of the key once, not twice.
    synchronized (TopicBytes.class) {
      if (SEEN.add(key)) {
        WATCHERS.forEach(w -> w.accept(key));
      }
    }
  }

  @Override
  public void metricRemoval(KafkaMetric metric) {
    mine.remove(metric);
    retire(metric);
  }

  /** The client closes: its totals stay, its metrics go. */
  @Override
  public void close() {
    mine.forEach(TopicBytes::retire);
    mine.clear();
  }

  private static void retire(KafkaMetric metric) {
    Key key = LIVE.remove(metric);
    if (key != null) {
      CLOSED.computeIfAbsent(key, k -> new DoubleAdder()).add(value(metric));
    }
  }

  @Override
  public void configure(Map<String, ?> configs) {
    // nothing to configure
  }

  private static Key keyOf(KafkaMetric metric) {
    String group = metric.metricName().group();
    String name = metric.metricName().name();
    String topic = metric.metricName().tags().get("topic");
    if (topic == null) {
      return null;
    }
    if (group.equals(PRODUCER_GROUP) && name.equals(PRODUCER_TOTAL)) {
      return new Key(topic, Direction.SENT);
    }
    if (group.equals(CONSUMER_GROUP) && name.equals(CONSUMER_TOTAL)) {
      return new Key(topic, Direction.RECEIVED);
    }
    return null;
  }

  private static double value(KafkaMetric metric) {
    Object v = metric.metricValue();
    return v instanceof Number n && Double.isFinite(n.doubleValue()) ? n.doubleValue() : 0;
  }
}
