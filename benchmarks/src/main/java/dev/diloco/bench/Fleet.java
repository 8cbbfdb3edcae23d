package dev.diloco.bench;

import dev.diloco.launcher.Diloco;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The services of a soak as child processes of this JVM ({@code diloco broker}, {@code reducer},
 * {@code optimizer}, {@code worker}), each with its log: started, killed with SIGKILL, started
 * again with the same command line, and all stopped on {@link #close()} (also when this JVM is
 * interrupted). One that exits without being killed is started again by {@link #supervise()} and
 * counted: the soak reports it.
 */
final class Fleet implements AutoCloseable {

  enum Kind { BROKER, REDUCER, OPTIMIZER, WORKER }

  /**
   * One service: a {@code diloco} command line, in a JVM with {@code heap}; {@code ready}: what
   * it prints once it serves (its start-up line); {@code prefix}: what the JVM is started under
   * (e.g. {@code ip netns exec NS}: the service in a network namespace), or nothing.
   */
  record Service(String name, Kind kind, String heap, String ready, List<String> args,
      List<String> prefix) {
    Service(String name, Kind kind, String heap, String ready, List<String> args) {
      this(name, kind, heap, ready, args, List.of());
    }

    Service {
      requireHeap(heap);
    }
  }

  /**
   * {@code heap} if it is a JVM heap size (-Xmx): a JVM refuses a bad one and exits, and its
   * ready line would then be awaited for ever.
   */
  static String requireHeap(String heap) {
    if (!heap.matches("[1-9][0-9]*[kKmMgG]?")) {
      throw new IllegalArgumentException("heap '" + heap + "' is not a JVM heap size: write "
          + "a number and k, m or g, e.g. 256m or 2g");
    }
    return heap;
  }

  /**
   * JVM flags of every service: the client compiler only and the serial collector, so that
   * eight JVMs restarting on two cores come back in seconds (the heavy arithmetic is native).
   */
  private static final List<String> JVM_FLAGS = List.of("-XX:TieredStopAtLevel=1",
      "-XX:+UseSerialGC");

  private final Path logs;
  private final Map<String, Service> services = new LinkedHashMap<>();
  private final Map<String, Process> running = new LinkedHashMap<>();
  private final Map<String, Integer> unplannedExits = new TreeMap<>();
  /** Where each service's log stood when it was last started: its ready line comes after. */
  private final Map<String, Long> logFrom = new HashMap<>();
  private final Thread onInterrupt = new Thread(this::killAll, "fleet-shutdown");

  Fleet(Path logs) {
    this.logs = logs;
    Runtime.getRuntime().addShutdownHook(onInterrupt);
  }

  synchronized void start(Service service) {
    services.put(service.name(), service);
    start(service.name());
  }

  synchronized void start(String name) {
    Service s = services.get(name);
    List<String> line = new ArrayList<>(s.prefix());
    line.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx" + s.heap()));
    line.addAll(JVM_FLAGS);
    line.addAll(List.of("-cp", System.getProperty("java.class.path"), Diloco.class.getName()));
    line.addAll(s.args());
    try {
      Path log = logOf(name);
      logFrom.put(name, Files.exists(log) ? Files.size(log) : 0L);
      ProcessBuilder builder = new ProcessBuilder(line);
      builder.environment().put("OMP_NUM_THREADS", "1"); // one core each: the JVMs share two
      running.put(name, builder.redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
          .start());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + name + ": " + e.getMessage(), e);
    }
  }

  /** SIGKILL, and waits (bounded) until the process is gone. */
  synchronized void kill(String name) {
    Process p = running.remove(name);
    if (p != null) {
      p.destroyForcibly();
      waitQuietly(p, 10);
    }
  }

  /** Whether {@code name} runs and has printed its ready line since it was last started. */
  synchronized boolean isReady(String name) {
    Process p = running.get(name);
    return p != null && p.isAlive() && printedSinceStart(services.get(name));
  }

  private boolean printedSinceStart(Service s) {
    try (RandomAccessFile log = new RandomAccessFile(logOf(s.name()).toFile(), "r")) {
      long from = logFrom.getOrDefault(s.name(), 0L);
      byte[] since = new byte[(int) Math.max(0, log.length() - from)];
      log.seek(from);
      log.readFully(since);
      return new String(since, StandardCharsets.UTF_8).contains(s.ready());
    } catch (IOException e) {
      return false;
    }
  }

  /** The process id of a running service. */
  synchronized long pid(String name) {
    return running.get(name).pid();
  }

  Path logOf(String name) {
    return logs.resolve(name + ".log");
  }

  List<Service> services(Kind kind) {
    return services.values().stream().filter(s -> s.kind() == kind).toList();
  }

  /** Starts again each service that exited without being killed; returns how many. */
  synchronized int supervise() {
    int restarted = 0;
    for (Map.Entry<String, Process> e : new ArrayList<>(running.entrySet())) {
      if (!e.getValue().isAlive()) {
        unplannedExits.merge(e.getKey(), 1, Integer::sum);
        start(e.getKey());
        restarted++;
      }
    }
    return restarted;
  }

  /** The services that exited on their own, with how often. */
  synchronized Map<String, Integer> unplannedExits() {
    return Map.copyOf(unplannedExits);
  }

  /** SIGTERM to each of {@code kinds}' services, a bounded wait, SIGKILL to what is left. */
  synchronized void stop(Kind... kinds) {
    List<Process> stopping = new ArrayList<>();
    for (Kind kind : kinds) {
      for (Service s : services(kind)) {
        Process p = running.remove(s.name());
        if (p != null) {
          p.destroy();
          stopping.add(p);
        }
        services.remove(s.name());
      }
    }
    for (Process p : stopping) {
      if (!waitQuietly(p, 15)) {
        p.destroyForcibly();
        waitQuietly(p, 10);
      }
    }
  }

  private synchronized void killAll() {
    running.values().forEach(Process::destroyForcibly);
    running.values().forEach(p -> waitQuietly(p, 10));
    running.clear();
  }

  private static boolean waitQuietly(Process p, int seconds) {
    try {
      return p.waitFor(seconds, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  @Override
  public void close() {
    stop(Kind.WORKER, Kind.OPTIMIZER, Kind.REDUCER, Kind.BROKER);
    killAll();
    try {
      Runtime.getRuntime().removeShutdownHook(onInterrupt);
    } catch (IllegalStateException shuttingDown) {
      // the hook is running or has run
    }
  }

  /** A command line from its parts. */
  @SafeVarargs
  static List<String> args(List<String>... parts) {
    List<String> all = new ArrayList<>();
    for (List<String> p : parts) {
      all.addAll(p);
    }
    return all;
  }
}
