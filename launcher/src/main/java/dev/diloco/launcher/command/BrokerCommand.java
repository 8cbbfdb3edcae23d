package dev.diloco.launcher.command;

import dev.diloco.broker.ClusterNode;
import dev.diloco.broker.EmbeddedKafkaBroker;
import dev.diloco.core.kafka.KafkaClientConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code diloco broker}: the embedded single-node Kafka broker, until Ctrl-C. */
@Command(
    name = "broker",
    mixinStandardHelpOptions = true,
    description = {
        "Starts a single-node Kafka broker (KRaft, broker and controller in one process) "
            + "listening on 127.0.0.1 only, and runs it until Ctrl-C.",
        "Its log stays in --dir, so stopping and starting it again keeps every topic."})
public final class BrokerCommand implements Callable<Integer> {

  @Option(names = "--dir", defaultValue = "runs/broker", paramLabel = "DIR",
      description = "Directory for the broker's log and config (default: ${DEFAULT-VALUE}).")
  Path dir;

  @Option(names = "--port", defaultValue = "9092", paramLabel = "PORT",
      description = "Client port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
  int port;

  @Option(names = "--listen", paramLabel = "ADDRESS",
      description = "Listen on this address of this machine instead of 127.0.0.1 (and "
          + "advertise it): for clients on other machines or network namespaces.")
  String listen;

  @Option(names = "--max-record-bytes", defaultValue = "" + KafkaClientConfig.DEFAULT_MAX_RECORD_BYTES,
      paramLabel = "BYTES",
      description = "Largest record the broker must accept (default: ${DEFAULT-VALUE}).")
  int maxRecordBytes;

  @Option(names = "--users", paramLabel = "FILE",
      description = "Turn on authentication (SASL/SCRAM-SHA-256) and ACLs (the KRaft "
          + "StandardAuthorizer): a .properties file of user=password lines, one of them "
          + "'admin' (the super user). Users are created with a new log directory; give each "
          + "service its user's client settings and apply 'diloco acls'.")
  Path users;

  @Option(names = "--voters", paramLabel = "1@127.0.0.1:PORT,...",
      description = "Make this broker one node of a cluster on 127.0.0.1: every node's id and "
          + "controller port, the same on each (with --node-id and --cluster-id). A cluster of "
          + "three or more keeps each topic on three replicas, two of which must have a write.")
  String voters;

  @Option(names = "--node-id", defaultValue = "1", paramLabel = "N",
      description = "This node's id in --voters (default: ${DEFAULT-VALUE}).")
  int nodeId;

  @Option(names = "--cluster-id", paramLabel = "ID",
      description = "The cluster's id, the same on each node of --voters (a Kafka UUID, as "
          + "kafka-storage.sh random-uuid prints one).")
  String clusterId;

  @Override
  public Integer call() throws Exception {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("--port must be in 0..65535, got " + port);
    }
    EmbeddedKafkaBroker.Builder builder = EmbeddedKafkaBroker.builder()
        .logDir(dir).port(port).maxRecordBytes(maxRecordBytes);
    if (listen != null) {
      builder.listenAddress(listen);
    }
    if (voters != null) {
      if (clusterId == null) {
        throw new IllegalArgumentException("--voters needs --cluster-id: every node of a "
            + "cluster formats its log with the same id");
      }
      builder.node(ClusterNode.of(nodeId, voters, clusterId));
    } else if (clusterId != null) {
      throw new IllegalArgumentException("--cluster-id is for a node of a cluster: give "
          + "--voters too");
    }
    if (users != null) {
      Map<String, String> passwords = readUsers(users);
      String admin = passwords.remove(EmbeddedKafkaBroker.ADMIN);
      if (admin == null) {
        throw new IllegalArgumentException(users + " names no '" + EmbeddedKafkaBroker.ADMIN
            + "' user: the broker needs its super user");
      }
      builder.authentication(admin, passwords);
    }
    EmbeddedKafkaBroker broker = builder.start();
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      broker.close();
      stopped.countDown();
    }, "broker-shutdown"));
    System.out.printf("Kafka broker ready on %s (log in %s)%s. Ctrl-C stops it.%n",
        broker.bootstrapServers(), broker.logDir(), broker.secured()
            ? ", SASL_PLAINTEXT with SCRAM-SHA-256 and ACLs" : "");
    stopped.await();
    return 0;
  }

  private static Map<String, String> readUsers(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("users file " + file + " does not exist");
    }
    Properties p = new Properties();
    try (var in = Files.newBufferedReader(file)) {
      p.load(in);
    }
    Map<String, String> users = new HashMap<>();
    p.stringPropertyNames().forEach(name -> users.put(name, p.getProperty(name)));
    return users;
  }
}
