package dev.diloco.broker;

import dev.diloco.core.kafka.KafkaClientConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.utils.Time;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Kafka broker in this JVM: one KRaft node that is both broker and controller, listening on
 * 127.0.0.1 only ({@link BrokerProperties}); a cluster of its own by default, or one node of an
 * N-node cluster ({@link Builder#node}) whose other nodes run in other processes. It keeps its
 * log in a directory that survives a restart (a run directory), or in a temporary one that it
 * deletes on close. Sized
 * for records of up to {@link KafkaClientConfig#DEFAULT_MAX_RECORD_BYTES}.
 *
 * <pre>{@code
 * try (var broker = EmbeddedKafkaBroker.builder().logDir(runDir.resolve("kafka")).start()) {
 *   KafkaClientConfig clients = KafkaClientConfig.of(broker.bootstrapServers());
 * }
 * }</pre>
 */
public final class EmbeddedKafkaBroker implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafkaBroker.class);

  /** The super user of a broker with authentication: topics, ACLs and the broker itself. */
  public static final String ADMIN = "admin";
  /** The SASL mechanism of a broker with authentication. */
  public static final String SCRAM = BrokerProperties.SCRAM;

  private final Path root;
  private final String host;
  private final boolean temporary;
  private final int port;
  private final KafkaRaftServer server;
  private final Map<String, String> users;
  private boolean closed;

  private EmbeddedKafkaBroker(Path root, String host, boolean temporary, int port,
      KafkaRaftServer server, Map<String, String> users) {
    this.root = root;
    this.host = host;
    this.temporary = temporary;
    this.port = port;
    this.server = server;
    this.users = users;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** {@code 127.0.0.1:port}, for clients' bootstrap.servers. */
  public String bootstrapServers() {
    return host + ":" + port;
  }

  public int port() {
    return port;
  }

  /** Whether clients must authenticate (SASL/SCRAM) and the authorizer checks ACLs. */
  public boolean secured() {
    return !users.isEmpty();
  }

  /**
   * Client settings for {@code user} (one of the broker's users, or {@link #ADMIN}): with
   * authentication on, SASL_PLAINTEXT with SCRAM; without, just the bootstrap servers.
   */
  public Map<String, String> clientSettings(String user) {
    Map<String, String> settings = new HashMap<>();
    settings.put("bootstrap.servers", bootstrapServers());
    if (secured()) {
      String password = users.get(user);
      if (password == null) {
        throw new IllegalArgumentException("the broker has no user " + user + " (it has "
            + new TreeSet<>(users.keySet()) + ")");
      }
      settings.put("security.protocol", "SASL_PLAINTEXT");
      settings.put("sasl.mechanism", SCRAM);
      settings.put("sasl.jaas.config", BrokerProperties.scramJaas(user, password));
    }
    return settings;
  }

  /** The directory that holds the broker's log, its config and its port. */
  public Path logDir() {
    return root;
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    long start = System.nanoTime();
    server.shutdown();
    server.awaitShutdown();
    LOG.info("Kafka broker on {} stopped in {} ms", bootstrapServers(),
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    if (temporary) {
      deleteRecursively(root);
    }
  }

  /** Options of an embedded broker; {@link #start()} formats the log directory when it is new. */
  public static final class Builder {
    private Path logDir;
    private int port;
    private int maxRecordBytes = KafkaClientConfig.DEFAULT_MAX_RECORD_BYTES;
    private Duration startTimeout = Duration.ofSeconds(60);
    private ClusterNode node;
    private String host = Ports.LOOPBACK;
    private final Map<String, String> overrides = new HashMap<>();
    private final Map<String, String> users = new TreeMap<>();

    /** Where the broker keeps its log; unset: a temporary directory, deleted on close. */
    public Builder logDir(Path logDir) {
      this.logDir = Objects.requireNonNull(logDir, "logDir");
      return this;
    }

    /**
     * The client port; 0 (the default): the port this log directory had last time if it is
     * free, else any free port.
     */
    public Builder port(int port) {
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("port must be in 0..65535, got " + port);
      }
      this.port = port;
      return this;
    }

    public Builder maxRecordBytes(int maxRecordBytes) {
      if (maxRecordBytes < 1024) {
        throw new IllegalArgumentException("maxRecordBytes must be >= 1024, got " + maxRecordBytes);
      }
      this.maxRecordBytes = maxRecordBytes;
      return this;
    }

    public Builder startTimeout(Duration startTimeout) {
      this.startTimeout = Objects.requireNonNull(startTimeout, "startTimeout");
      return this;
    }

    /**
     * Turns authentication and authorization on: clients authenticate with SASL/SCRAM as one of
     * {@code users} (name to password) or as {@link #ADMIN} (the super user, with
     * {@code adminPassword}), and the KRaft {@code StandardAuthorizer} allows only what ACLs
     * allow. Users are created when the log directory is formatted (a new directory).
     */
    public Builder authentication(String adminPassword, Map<String, String> users) {
      Objects.requireNonNull(adminPassword, "adminPassword");
      users.forEach((user, password) -> {
        if (!user.matches("[A-Za-z0-9._-]+") || password.isEmpty() || password.contains("\"")) {
          throw new IllegalArgumentException("user names are letters, digits, '.', '_' and '-',"
              + " with a non-empty password without quotes; got user '" + user + "'");
        }
      });
      this.users.clear();
      this.users.putAll(users);
      this.users.put(ADMIN, adminPassword);
      return this;
    }

    /**
     * Makes this broker one node of a cluster (unset: a cluster of its own). Its nodes are
     * started each with its own log directory and client port; the first start of each formats
     * it with the cluster's id, and a node answers once a majority of the controllers do.
     */
    public Builder node(ClusterNode node) {
      this.node = Objects.requireNonNull(node, "node");
      return this;
    }

    /**
     * Serves clients on {@code address} instead of 127.0.0.1: an address of this machine on a
     * network of the caller's own (a test's veth pair), never a public one.
     */
    public Builder listenAddress(String address) {
      try {
        java.net.InetAddress a = java.net.InetAddress.getByName(Objects.requireNonNull(address));
        if (java.net.NetworkInterface.getByInetAddress(a) == null) {
          throw new IllegalArgumentException(address + " is not an address of this machine");
        }
      } catch (java.io.IOException e) {
        throw new IllegalArgumentException("cannot listen on " + address + ": " + e, e);
      }
      this.host = address;
      return this;
    }

    /** Any other broker setting, over the defaults. */
    public Builder property(String key, String value) {
      overrides.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
      return this;
    }

    public EmbeddedKafkaBroker start() {
      boolean temporary = logDir == null;
      Path root;
      try {
        root = temporary ? Files.createTempDirectory("diloco-kafka-") : logDir.toAbsolutePath();
        Files.createDirectories(root);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot create the broker's log directory " + logDir, e);
      }
      try {
        return startIn(root, temporary);
      } catch (RuntimeException e) {
        if (temporary) {
          deleteRecursively(root);
        }
        throw e;
      }
    }

    private EmbeddedKafkaBroker startIn(Path root, boolean temporary) {
      long begin = System.nanoTime();
      StorageFormat.requireUnlocked(BrokerProperties.logDirs(root), Ports.previous(root)
          .map(p -> " with --bootstrap-servers " + Ports.LOOPBACK + ":" + p).orElse(""));
      int clientPort = port != 0 ? Ports.requireFree(port) : Ports.previousIfFree(root);
      ClusterNode self = node != null ? node : ClusterNode.single(Ports.free());
      Properties props = BrokerProperties.of(root, host, clientPort, self, maxRecordBytes,
          users, overrides);
      Path config = root.resolve("server.properties");
      BrokerProperties.write(config, props);
      StorageFormat.formatIfNew(BrokerProperties.logDirs(root), config, self.clusterId(), users);

      KafkaRaftServer server = new KafkaRaftServer(new KafkaConfig(props, false), Time.SYSTEM);
      try {
        server.startup();
      } catch (RuntimeException e) {
        server.shutdown();
        server.awaitShutdown();
        throw new IllegalStateException("the embedded Kafka broker did not start on "
            + Ports.LOOPBACK + ":" + clientPort + ": " + e.getMessage(), e);
      }
      EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(root, host, temporary, clientPort,
          server, Map.copyOf(users));
      try {
        awaitReady(broker);
      } catch (RuntimeException e) {
        broker.close();
        throw e;
      }
      Ports.remember(root, clientPort);
      LOG.info("Kafka broker ready on {} (log in {}) after {} ms", broker.bootstrapServers(), root,
          TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin));
      return broker;
    }

    private void awaitReady(EmbeddedKafkaBroker broker) {
      Map<String, Object> admin = new HashMap<>(broker.clientSettings(ADMIN));
      admin.put("request.timeout.ms", "5000");
      admin.put("default.api.timeout.ms", (int) startTimeout.toMillis());
      try (Admin client = Admin.create(admin)) {
        client.describeCluster().nodes().get(startTimeout.toMillis(), TimeUnit.MILLISECONDS);
      } catch (Exception e) {
        throw new IllegalStateException("the embedded Kafka broker on "
            + broker.bootstrapServers() + " did not answer within " + startTimeout, e);
      }
    }
  }

  private static void deleteRecursively(Path dir) {
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      LOG.warn("could not delete {}: {}", dir, e.getMessage());
    }
  }
}
