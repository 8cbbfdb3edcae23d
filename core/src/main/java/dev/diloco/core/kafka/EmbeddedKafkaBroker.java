package dev.diloco.core.kafka;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A single-node Kafka cluster in this JVM: one KRaft process that is both broker and controller,
 * listening on 127.0.0.1 only. It keeps its log in a directory that survives a restart (a run
 * directory), or in a temporary one that it deletes on close. Sized for records of up to
 * {@link KafkaClientConfig#DEFAULT_MAX_RECORD_BYTES}.
 *
 * <pre>{@code
 * try (var broker = EmbeddedKafkaBroker.builder().logDir(runDir.resolve("kafka")).start()) {
 *   KafkaClientConfig clients = KafkaClientConfig.of(broker.bootstrapServers());
 * }
 * }</pre>
 */
public final class EmbeddedKafkaBroker implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafkaBroker.class);
  private static final String LOOPBACK = "127.0.0.1";
  private static final String PORT_FILE = "broker.port";
  private static final int NODE_ID = 1;

  /** The super user of a broker with authentication: topics, ACLs and the broker itself. */
  public static final String ADMIN = "admin";
  /** The SASL mechanism of a broker with authentication. */
  public static final String SCRAM = "SCRAM-SHA-256";

  private final Path root;
  private final boolean temporary;
  private final int port;
  private final KafkaRaftServer server;
  private final Map<String, String> users;
  private boolean closed;

  private EmbeddedKafkaBroker(Path root, boolean temporary, int port, KafkaRaftServer server,
      Map<String, String> users) {
    this.root = root;
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
    return LOOPBACK + ":" + port;
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
            + new java.util.TreeSet<>(users.keySet()) + ")");
      }
      settings.putAll(scramClient(user, password));
    }
    return settings;
  }

  private static Map<String, String> scramClient(String user, String password) {
    return Map.of("security.protocol", "SASL_PLAINTEXT", "sasl.mechanism", SCRAM,
        "sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required "
            + "username=\"" + user + "\" password=\"" + password + "\";");
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
    private final Map<String, String> overrides = new HashMap<>();
    private final Map<String, String> users = new java.util.TreeMap<>();

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
      int clientPort = port != 0 ? requireFree(port) : previousPortIfFree(root);
      int controllerPort = freePort();
      Properties props = brokerProperties(root, clientPort, controllerPort);
      Path config = root.resolve("server.properties");
      write(config, props);
      formatIfNew(root, config, users);

      KafkaRaftServer server = new KafkaRaftServer(new KafkaConfig(props, false), Time.SYSTEM);
      try {
        server.startup();
      } catch (RuntimeException e) {
        server.shutdown();
        server.awaitShutdown();
        throw new IllegalStateException("the embedded Kafka broker did not start on "
            + LOOPBACK + ":" + clientPort + ": " + e.getMessage(), e);
      }
      EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(root, temporary, clientPort, server,
          Map.copyOf(users));
      try {
        awaitReady(broker);
      } catch (RuntimeException e) {
        broker.close();
        throw e;
      }
      write(root.resolve(PORT_FILE), Integer.toString(clientPort));
      LOG.info("Kafka broker ready on {} (log in {}) after {} ms", broker.bootstrapServers(), root,
          TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin));
      return broker;
    }

    private Properties brokerProperties(Path root, int clientPort, int controllerPort) {
      String limit = Integer.toString(maxRecordBytes + KafkaClientConfig.RECORD_OVERHEAD_BYTES);
      Map<String, String> p = new HashMap<>();
      p.put("process.roles", "broker,controller");
      p.put("node.id", Integer.toString(NODE_ID));
      p.put("controller.quorum.voters", NODE_ID + "@" + LOOPBACK + ":" + controllerPort);
      String client = users.isEmpty() ? "PLAINTEXT" : "SASL_PLAINTEXT";
      p.put("listeners", client + "://" + LOOPBACK + ":" + clientPort
          + ",CONTROLLER://" + LOOPBACK + ":" + controllerPort);
      p.put("advertised.listeners", client + "://" + LOOPBACK + ":" + clientPort);
      p.put("controller.listener.names", "CONTROLLER");
      p.put("inter.broker.listener.name", client);
      p.put("listener.security.protocol.map", client + ":" + client + ",CONTROLLER:PLAINTEXT");
      if (!users.isEmpty()) {
        p.put("sasl.enabled.mechanisms", SCRAM);
        p.put("sasl.mechanism.inter.broker.protocol", SCRAM);
        p.put("listener.name.sasl_plaintext." + SCRAM.toLowerCase(java.util.Locale.ROOT)
            + ".sasl.jaas.config", scramClient(ADMIN, users.get(ADMIN)).get("sasl.jaas.config"));
        p.put("authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer");
        p.put("allow.everyone.if.no.acl.found", "false");
        // The controller listener is PLAINTEXT on 127.0.0.1: its (anonymous) peer is this
        // process's own broker.
        p.put("super.users", "User:" + ADMIN + ";User:ANONYMOUS");
      }
      p.put("log.dirs", root.resolve("kafka-logs").toString());
      // Topics are created explicitly with their settings, as on a managed cluster.
      p.put("auto.create.topics.enable", "false");
      p.put("num.partitions", "1");
      p.put("default.replication.factor", "1");
      p.put("offsets.topic.replication.factor", "1");
      p.put("offsets.topic.num.partitions", "4");
      p.put("transaction.state.log.replication.factor", "1");
      p.put("transaction.state.log.min.isr", "1");
      p.put("transaction.state.log.num.partitions", "4");
      p.put("share.coordinator.state.topic.replication.factor", "1");
      p.put("share.coordinator.state.topic.min.isr", "1");
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

    private static void formatIfNew(Path root, Path config, Map<String, String> users) {
      if (Files.exists(root.resolve("kafka-logs").resolve("meta.properties"))) {
        return; // a restart: keep the log and its cluster id
      }
      java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("format",
          "--config", config.toString(), "--cluster-id", Uuid.randomUuid().toString(),
          "--ignore-formatted"));
      users.forEach((user, password) -> {
        args.add("--add-scram");
        args.add(SCRAM + "=[name=" + user + ",password=" + password + "]");
      });
      ByteArrayOutputStream output = new ByteArrayOutputStream();
      int exit;
      try (PrintStream out = new PrintStream(output, true, StandardCharsets.UTF_8)) {
        exit = StorageTool.execute(args.toArray(String[]::new), out);
      }
      String said = output.toString(StandardCharsets.UTF_8).trim();
      if (exit != 0) {
        throw new IllegalStateException("formatting the broker's log directory " + root
            + " failed (exit " + exit + "): " + said);
      }
      LOG.debug("formatted {}: {}", root, said);
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

    private static int previousPortIfFree(Path root) {
      Path file = root.resolve(PORT_FILE);
      if (Files.isRegularFile(file)) {
        try {
          int previous = Integer.parseInt(Files.readString(file).trim());
          if (isFree(previous)) {
            return previous;
          }
          LOG.info("port {} that {} used last time is taken; choosing another", previous, root);
        } catch (IOException | NumberFormatException e) {
          LOG.warn("ignoring unreadable {}: {}", file, e.getMessage());
        }
      }
      return freePort();
    }

    private static int requireFree(int port) {
      if (!isFree(port)) {
        throw new IllegalStateException("port " + port + " on " + LOOPBACK + " is in use: "
            + "stop what holds it, or choose another port (0 picks a free one)");
      }
      return port;
    }

    private static boolean isFree(int port) {
      try (ServerSocket socket = new ServerSocket()) {
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress(InetAddress.getByName(LOOPBACK), port));
        return true;
      } catch (IOException e) {
        return false;
      }
    }

    private static int freePort() {
      try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
        return socket.getLocalPort();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot find a free port on " + LOOPBACK, e);
      }
    }
  }

  private static void write(Path file, Properties props) {
    try (OutputStream out = Files.newOutputStream(file)) {
      props.store(out, "embedded Kafka broker: written at each start");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  private static void write(Path file, String text) {
    try {
      Files.writeString(file, text);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
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
