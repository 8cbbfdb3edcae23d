package dev.diloco.core.kafka;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/** Questions about a cluster's topics that every service asks at start. */
public final class Topics {
  private Topics() {}

  /** Framing of a chunk record beyond its payload: ids, offsets, CRC, Avro, Kafka headers. */
  static final int CHUNK_FRAMING_BYTES = 64 * 1024;

  /**
   * The largest chunk record of a run cut in chunks of {@code chunkElements}: a sum in 64-bit
   * values (FP32 contributions summed in FP64) is the widest, 8 bytes an element.
   */
  public static int chunkRecordBytes(int chunkElements) {
    return Math.toIntExact(8L * chunkElements + CHUNK_FRAMING_BYTES);
  }

  /** The runs on the cluster: those with a model topic, by id, sorted. */
  public static List<String> runs(KafkaClientConfig clients) {
    try (Admin admin = Admin.create(clients.admin())) {
      return admin.listTopics().names().get(30, TimeUnit.SECONDS).stream()
          .map(RunTopics::runOfModelTopic).flatMap(java.util.Optional::stream).sorted().toList();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while listing the cluster's runs", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot list the cluster's topics: "
          + e.getCause().getMessage(), e.getCause());
    } catch (TimeoutException e) {
      throw unreachable(clients, e);
    }
  }

  /** Fails, saying so, unless the cluster answers within {@code timeout}. */
  public static void requireReachable(KafkaClientConfig clients, java.time.Duration timeout) {
    Admin admin = Admin.create(clients.admin());
    try {
      admin.describeCluster().nodes().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reaching the cluster", e);
    } catch (ExecutionException | TimeoutException e) {
      throw unreachable(clients, timeout, e);
    } finally {
      // A plain close() waits for the pending call's own API timeout (60 s by default): the
      // answer is known, so drop the call.
      admin.close(java.time.Duration.ZERO);
    }
  }

  /**
   * Creates {@code topics} on the cluster, those that exist already left as they are; returns
   * each name with whether it was created (true) or existed (false). Every topic of the
   * project is created here, with the settings its {@link NewTopic} carries.
   */
  public static Map<String, Boolean> create(KafkaClientConfig clients, List<NewTopic> topics) {
    Map<String, Boolean> created = new java.util.LinkedHashMap<>();
    try (Admin admin = Admin.create(clients.admin())) {
      for (var e : admin.createTopics(topics).values().entrySet()) {
        try {
          e.getValue().get(60, TimeUnit.SECONDS);
          created.put(e.getKey(), true);
        } catch (ExecutionException ex) {
          if (!(ex.getCause() instanceof TopicExistsException)) {
            throw new IllegalStateException("cannot create topic " + e.getKey() + ": "
                + ex.getCause().getMessage(), ex.getCause());
          }
          created.put(e.getKey(), false);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topics", e);
    } catch (TimeoutException e) {
      throw unreachable(clients, e);
    }
    return created;
  }

  /**
   * Fails, naming every problem, unless run {@code topics} is ready on the cluster: every topic
   * there, with room for its chunk records of {@code chunkElements} and the partitions its
   * ordering needs. Every service asks this (or {@code RoundLog.requireReady}, with the run's
   * own chunk size) before it produces anything.
   */
  public static void requireReady(KafkaClientConfig clients, RunTopics topics,
      int chunkElements) {
    List<String> problems = problems(clients, topics, chunkElements);
    if (!problems.isEmpty()) {
      throw new IllegalStateException("the topics of run " + topics.runId() + " on "
          + clients.bootstrapServers() + " are not ready:\n  " + String.join("\n  ", problems));
    }
  }

  /** Partitions of {@code topic}; fails with what to do when it does not exist. */
  public static int partitions(KafkaClientConfig clients, String topic) {
    try (Admin admin = Admin.create(clients.admin())) {
      return admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS)
          .get(topic).partitions().size();
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot read topic " + topic + ": "
          + e.getCause().getMessage() + " (create the run's topics first)", e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading topic " + topic, e);
    } catch (TimeoutException e) {
      throw unreachable(clients, e);
    }
  }

  /** Whether {@code topic} exists on the cluster (and this client may see it). */
  public static boolean exists(KafkaClientConfig clients, String topic) {
    try (Admin admin = Admin.create(clients.admin())) {
      admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS);
      return true;
    } catch (ExecutionException e) {
      if (e.getCause() instanceof UnknownTopicOrPartitionException) {
        return false;
      }
      throw new IllegalStateException("cannot read topic " + topic + ": "
          + e.getCause().getMessage(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading topic " + topic, e);
    } catch (TimeoutException e) {
      throw unreachable(clients, e);
    }
  }

  /**
   * What is wrong with run {@code topics} on the cluster for chunks of {@code chunkElements}:
   * missing topics, a {@code max.message.bytes} too small for a chunk record, partitions that
   * break the run's ordering. Empty when the run can start. Managed clusters often forbid
   * creating topics automatically, so this is asked before anything is produced.
   */
  public static List<String> problems(KafkaClientConfig clients, RunTopics topics,
      int chunkElements) {
    List<String> problems = new ArrayList<>();
    int needed = chunkRecordBytes(chunkElements);
    try (Admin admin = Admin.create(clients.admin())) {
      // The run's topics, and the workers' own chunk topics that exist (they are optional).
      List<String> names = new ArrayList<>(topics.all());
      admin.listTopics().names().get(30, TimeUnit.SECONDS).stream()
          .filter(t -> topics.workerOf(t).isPresent()).sorted().forEach(names::add);
      Map<String, KafkaFuture<TopicDescription>> described =
          admin.describeTopics(names).topicNameValues();
      List<String> present = new ArrayList<>();
      Map<String, Integer> partitions = new java.util.HashMap<>();
      for (String topic : names) {
        try {
          partitions.put(topic, described.get(topic).get(30, TimeUnit.SECONDS).partitions()
              .size());
          present.add(topic);
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
            throw new IllegalStateException("cannot read topic " + topic + ": "
                + e.getCause().getMessage(), e.getCause());
          }
          problems.add("topic " + topic + " does not exist: create the run's topics with "
              + "'diloco topics create --run " + topics.runId() + "'");
        }
      }
      List<ConfigResource> resources = present.stream()
          .map(t -> new ConfigResource(ConfigResource.Type.TOPIC, t)).toList();
      Map<ConfigResource, Config> configs = admin.describeConfigs(resources).all()
          .get(30, TimeUnit.SECONDS);
      Set<String> chunkTopics = Set.of(topics.pseudoGradients(), topics.reduced(),
          topics.weights(), topics.optimizerState(), topics.deadLetters());
      for (ConfigResource r : resources) {
        var entry = configs.get(r).get(TopicConfig.MAX_MESSAGE_BYTES_CONFIG);
        long allowed = entry == null ? Long.MAX_VALUE : Long.parseLong(entry.value());
        boolean chunks = chunkTopics.contains(r.name()) || topics.workerOf(r.name()).isPresent();
        if (chunks && allowed < needed) {
          problems.add("topic " + r.name() + " allows records of " + allowed + " bytes "
              + "(max.message.bytes); chunks of " + chunkElements + " elements need " + needed
              + ": raise it, or create the topics with 'diloco topics create'");
        }
      }
      for (String ordered : List.of(topics.weights(), topics.commits(), topics.model())) {
        Integer n = partitions.get(ordered);
        if (n != null && n != 1) {
          problems.add("topic " + ordered + " has " + n + " partitions; it needs 1, so that a "
              + "round's records stay in order");
        }
      }
      Integer in = partitions.get(topics.pseudoGradients());
      Integer out = partitions.get(topics.reduced());
      for (String own : present) {
        Integer n = partitions.get(own);
        if (topics.workerOf(own).isPresent() && in != null && !n.equals(in)) {
          problems.add("topic " + own + " has " + n + " partitions, "
              + topics.pseudoGradients() + " " + in + ": a worker's own topic needs as many");
        }
      }
      if (in != null && out != null && !in.equals(out)) {
        problems.add("topics " + topics.pseudoGradients() + " and " + topics.reduced()
            + " have " + in + " and " + out + " partitions; they need the same number");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while checking the run's topics", e);
    } catch (TimeoutException e) {
      throw unreachable(clients, e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot check the run's topics: "
          + e.getCause().getMessage(), e.getCause());
    }
    return problems;
  }

  private static IllegalStateException unreachable(KafkaClientConfig clients, Exception e) {
    return unreachable(clients, java.time.Duration.ofSeconds(30), e);
  }

  private static IllegalStateException unreachable(KafkaClientConfig clients,
      java.time.Duration timeout, Exception e) {
    return new IllegalStateException("cannot reach the Kafka cluster at "
        + clients.bootstrapServers() + " within " + timeout.toSeconds() + " s: is it running, "
        + "and reachable from here?", e);
  }
}
