package dev.diloco.broker;

import dev.diloco.core.kafka.KafkaClientConfig;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;

/**
 * The settings of a KRaft node (broker and controller in one process) on 127.0.0.1, alone or one
 * of a {@link ClusterNode cluster}, sized for records of {@code maxRecordBytes}, with SASL/SCRAM
 * and ACLs when it has users. Every broker setting the project relies on is here, once.
 */
final class BrokerProperties {

  /** The SASL mechanism of a broker with authentication. */
  static final String SCRAM = "SCRAM-SHA-256";

  private BrokerProperties() {}

  /**
   * {@code users}: name to password, {@link EmbeddedKafkaBroker#ADMIN} among them, or empty for
   * a broker without authentication; {@code overrides} win over everything else.
   */
  static Properties of(Path root, String host, int clientPort, ClusterNode node,
      int maxRecordBytes, Map<String, String> users, Map<String, String> overrides) {
    String loopback = Ports.LOOPBACK;
    String limit = Integer.toString(maxRecordBytes + KafkaClientConfig.RECORD_OVERHEAD_BYTES);
    Map<String, String> p = new HashMap<>();
    p.put("process.roles", "broker,controller");
    p.put("node.id", Integer.toString(node.nodeId()));
    p.put("controller.quorum.voters", node.voters());
    int controllerPort = node.controllerPort();
    String client = users.isEmpty() ? "PLAINTEXT" : "SASL_PLAINTEXT";
    // Clients on {@code host} (loopback unless a test's own network); controllers on loopback.
    p.put("listeners", client + "://" + host + ":" + clientPort
        + ",CONTROLLER://" + loopback + ":" + controllerPort);
    p.put("advertised.listeners", client + "://" + host + ":" + clientPort);
    p.put("controller.listener.names", "CONTROLLER");
    p.put("inter.broker.listener.name", client);
    p.put("listener.security.protocol.map", client + ":" + client + ",CONTROLLER:PLAINTEXT");
    if (!users.isEmpty()) {
      p.put("sasl.enabled.mechanisms", SCRAM);
      p.put("sasl.mechanism.inter.broker.protocol", SCRAM);
      p.put("listener.name.sasl_plaintext." + SCRAM.toLowerCase(Locale.ROOT) + ".sasl.jaas.config",
          scramJaas(EmbeddedKafkaBroker.ADMIN, users.get(EmbeddedKafkaBroker.ADMIN)));
      p.put("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer");
      p.put("allow.everyone.if.no.acl.found", "false");
      // The controller listener is PLAINTEXT on 127.0.0.1: its (anonymous) peer is this
      // process's own broker.
      p.put("super.users", "User:" + EmbeddedKafkaBroker.ADMIN + ";User:ANONYMOUS");
    }
    p.put("log.dirs", logDirs(root).toString());
    // Topics are created explicitly with their settings, as on a managed cluster.
    p.put("auto.create.topics.enable", "false");
    p.put("num.partitions", "1");
    // Topics nobody gives a replication (Kafka Streams' own, the offsets and transactions) get
    // the cluster's: three replicas, two of which must have a write, when there are three nodes.
    String replicas = Integer.toString(node.replication());
    String minIsr = Integer.toString(node.minInsyncReplicas());
    p.put("default.replication.factor", replicas);
    p.put("min.insync.replicas", minIsr);
    p.put("offsets.topic.replication.factor", replicas);
    p.put("offsets.topic.num.partitions", "4");
    p.put("transaction.state.log.replication.factor", replicas);
    p.put("transaction.state.log.min.isr", minIsr);
    p.put("transaction.state.log.num.partitions", "4");
    p.put("share.coordinator.state.topic.replication.factor", replicas);
    p.put("share.coordinator.state.topic.min.isr", minIsr);
    p.put("group.initial.rebalance.delay.ms", "0");
    p.put("message.max.bytes", limit);
    p.put("replica.fetch.max.bytes", limit);
    // The log cleaner's default 128 MiB dedupe buffer is a large share of a small heap.
    p.put("log.cleaner.dedupe.buffer.size", Integer.toString(8 * 1024 * 1024));
    p.put("log.cleaner.threads", "1");
    p.put("num.network.threads", "2");
    p.put("num.io.threads", "4");
    p.put("background.threads", "2");
    p.put("num.recovery.threads.per.data.dir", "1");
    p.putAll(overrides);
    Properties props = new Properties();
    props.putAll(p);
    return props;
  }

  /** Where the broker keeps its partitions, under its root directory. */
  static Path logDirs(Path root) {
    return root.resolve("kafka-logs");
  }

  /** The JAAS line of a SCRAM client (or of the broker's own listener) as {@code user}. */
  static String scramJaas(String user, String password) {
    return "org.apache.kafka.common.security.scram.ScramLoginModule required "
        + "username=\"" + user + "\" password=\"" + password + "\";";
  }

  /** Writes the settings to {@code file}, as Kafka's storage tool reads them. */
  static void write(Path file, Properties props) {
    try (OutputStream out = Files.newOutputStream(file)) {
      props.store(out, "embedded Kafka broker: written at each start");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
