package dev.diloco.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A network namespace joined to this one (or to another namespace, its host) by a veth pair on
 * a /30 of its own (in 10.200.0.0/14, one not in use here), made with iproute2 (as root): a
 * bench runs a service in it, cuts the link with {@code ip link set down} or limits its
 * bandwidth each way with {@code tc tbf}. Closing it removes the namespace and the pair (and
 * with them their queueing disciplines), also when the JVM is interrupted (a shutdown hook); it
 * touches nothing it did not make.
 */
final class NetnsLink implements AutoCloseable {

  /** The /24s this process's links took: their addresses are not all visible from here. */
  private static final Set<String> TAKEN = new HashSet<>();

  final String namespace;
  final String hostDevice;
  final String nsDevice;
  final String hostAddress;
  final String nsAddress;
  /** The namespace of the pair's other end; null: this one. */
  private final String hostNamespace;
  private final Thread onInterrupt = new Thread(this::remove, "netns-cleanup");
  private boolean removed;

  private NetnsLink(String id, String prefix, int base, String hostNamespace) {
    this.hostNamespace = hostNamespace;
    this.namespace = "diloco-" + id;
    this.hostDevice = "dlc" + id + "h";
    this.nsDevice = "dlc" + id + "n";
    this.hostAddress = prefix + "." + (base + 1);
    this.nsAddress = prefix + "." + (base + 2);
  }

  /** A new namespace linked to this one; fails, saying why, without root or iproute2. */
  static NetnsLink create() {
    return create(null);
  }

  /**
   * A new namespace linked to {@code host}'s namespace (null: to this one), which reaches
   * {@code host}'s own address through it once {@link #routeTo} says so.
   */
  static synchronized NetnsLink create(NetnsLink host) {
    Random random = new Random();
    String inUse = run(false, "ip", "-4", "-o", "addr", "show") + run(false, "ip", "-4", "route");
    String prefix;
    do { // a /24 that no address or route of this machine, nor another link of ours, is in
      prefix = "10." + (200 + random.nextInt(4)) + "." + random.nextInt(256);
    } while (inUse.contains(prefix + ".") || TAKEN.contains(prefix));
    TAKEN.add(prefix);
    NetnsLink link = new NetnsLink(String.format("%05x", random.nextInt(1 << 20)), prefix,
        4 * random.nextInt(64), host == null ? null : host.namespace);
    Runtime.getRuntime().addShutdownHook(link.onInterrupt);
    try {
      link.setUp();
    } catch (RuntimeException e) {
      link.close();
      throw e;
    }
    return link;
  }

  private void setUp() {
    run(true, "ip", "netns", "add", namespace);
    run(true, onHost("ip", "link", "add", hostDevice, "type", "veth", "peer", "name", nsDevice));
    run(true, onHost("ip", "link", "set", nsDevice, "netns", namespace));
    run(true, onHost("ip", "addr", "add", hostAddress + "/30", "dev", hostDevice));
    run(true, onHost("ip", "link", "set", hostDevice, "up"));
    run(true, "ip", "netns", "exec", namespace, "ip", "addr", "add", nsAddress + "/30", "dev",
        nsDevice);
    run(true, "ip", "netns", "exec", namespace, "ip", "link", "set", nsDevice, "up");
    run(true, "ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up");
  }

  /** What a command is started under to run in the namespace. */
  List<String> exec() {
    return List.of("ip", "netns", "exec", namespace);
  }

  /** Cuts the link: nothing passes between the namespace and its host. */
  void cut() {
    run(true, onHost("ip", "link", "set", hostDevice, "down"));
  }

  void heal() {
    run(true, onHost("ip", "link", "set", hostDevice, "up"));
  }

  /** Routes {@code address} (one of the host namespace's) from the namespace over the link. */
  void routeTo(String address) {
    run(true, "ip", "netns", "exec", namespace, "ip", "route", "add", address + "/32", "via",
        hostAddress);
  }

  /**
   * Limits the link to {@code bitsPerSecond} each way (token bucket filters on both ends: the
   * namespace's uploads and downloads), replacing the last limit.
   */
  void limit(long bitsPerSecond) {
    String rate = Long.toString(bitsPerSecond);
    // A bucket of 10 ms of traffic, at least a few full-size packets; queue 200 ms at the rate.
    String burst = Long.toString(Math.max(16 * 1024, bitsPerSecond / 8 / 100));
    run(true, "ip", "netns", "exec", namespace, "tc", "qdisc", "replace", "dev", nsDevice,
        "root", "tbf", "rate", rate, "burst", burst, "latency", "200ms");
    run(true, onHost("tc", "qdisc", "replace", "dev", hostDevice, "root", "tbf", "rate", rate,
        "burst", burst, "latency", "200ms"));
  }

  /** {@code command} as run in the namespace of the pair's host end. */
  private String[] onHost(String... command) {
    if (hostNamespace == null) {
      return command;
    }
    List<String> line = new ArrayList<>(List.of("ip", "netns", "exec", hostNamespace));
    line.addAll(List.of(command));
    return line.toArray(String[]::new);
  }

  private synchronized void remove() {
    if (removed) {
      return;
    }
    removed = true;
    run(false, "ip", "netns", "del", namespace); // takes its end of the pair, and so the pair
    run(false, onHost("ip", "link", "del", hostDevice));
  }

  @Override
  public void close() {
    remove();
    try {
      Runtime.getRuntime().removeShutdownHook(onInterrupt);
    } catch (IllegalStateException shuttingDown) {
      // the hook is running or has run
    }
  }

  /** Runs a command (bounded); {@code strict}: a failure throws, naming the command's output. */
  private static String run(boolean strict, String... command) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      boolean done = p.waitFor(30, TimeUnit.SECONDS);
      if (strict && (!done || p.exitValue() != 0)) {
        p.destroyForcibly();
        throw new IllegalStateException("'" + String.join(" ", command) + "' failed"
            + (done ? " (exit " + p.exitValue() + ")" : " (no answer in 30 s)") + ": "
            + out.trim() + ". This bench needs root and iproute2 (ip netns, veth, tc).");
      }
      return out;
    } catch (IOException e) {
      if (strict) {
        throw new IllegalStateException("cannot run '" + String.join(" ", command) + "': "
            + e.getMessage() + ". This bench needs iproute2 (ip, tc).", e);
      }
      return "";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted: " + String.join(" ", command), e);
    }
  }

  @Override
  public String toString() {
    return "namespace " + namespace + " (" + nsAddress + ") linked by " + hostDevice + " ("
        + hostAddress + ")";
  }
}
