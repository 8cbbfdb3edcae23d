package dev.diloco.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * A network namespace joined to this one by a veth pair on a /30 of its own (in 10.200.0.0/14,
 * one not in use here), made with iproute2 (as root): a bench runs a service in it and cuts
 * the link with {@code ip link set down}. Closing it removes the namespace and the pair, also
 * when the JVM is interrupted (a shutdown hook); it touches nothing it did not make.
 */
final class NetnsLink implements AutoCloseable {

  final String namespace;
  final String hostDevice;
  final String nsDevice;
  final String hostAddress;
  final String nsAddress;
  private final Thread onInterrupt = new Thread(this::remove, "netns-cleanup");
  private boolean removed;

  private NetnsLink(String id, String prefix, int base) {
    this.namespace = "diloco-" + id;
    this.hostDevice = "dlc" + id + "h";
    this.nsDevice = "dlc" + id + "n";
    this.hostAddress = prefix + "." + (base + 1);
    this.nsAddress = prefix + "." + (base + 2);
  }

  /** A new namespace and link; fails, saying why, without root or iproute2. */
  static NetnsLink create() {
    Random random = new Random();
    String inUse = run(false, "ip", "-4", "-o", "addr", "show") + run(false, "ip", "-4", "route");
    String prefix;
    do { // a /24 that no address or route of this machine is in
      prefix = "10." + (200 + random.nextInt(4)) + "." + random.nextInt(256);
    } while (inUse.contains(prefix + "."));
    NetnsLink link = new NetnsLink(String.format("%05x", random.nextInt(1 << 20)), prefix,
        4 * random.nextInt(64));
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
    run(true, "ip", "link", "add", hostDevice, "type", "veth", "peer", "name", nsDevice);
    run(true, "ip", "link", "set", nsDevice, "netns", namespace);
    run(true, "ip", "addr", "add", hostAddress + "/30", "dev", hostDevice);
    run(true, "ip", "link", "set", hostDevice, "up");
    run(true, "ip", "netns", "exec", namespace, "ip", "addr", "add", nsAddress + "/30", "dev",
        nsDevice);
    run(true, "ip", "netns", "exec", namespace, "ip", "link", "set", nsDevice, "up");
    run(true, "ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up");
  }

  /** What a command is started under to run in the namespace. */
  List<String> exec() {
    return List.of("ip", "netns", "exec", namespace);
  }

  /** Cuts the link: nothing passes between the namespace and this machine. */
  void cut() {
    run(true, "ip", "link", "set", hostDevice, "down");
  }

  void heal() {
    run(true, "ip", "link", "set", hostDevice, "up");
  }

  private synchronized void remove() {
    if (removed) {
      return;
    }
    removed = true;
    run(false, "ip", "netns", "del", namespace); // takes its end of the pair, and so the pair
    run(false, "ip", "link", "del", hostDevice);
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
            + out.trim() + ". The partition bench needs root and iproute2 (ip netns, veth).");
      }
      return out;
    } catch (IOException e) {
      if (strict) {
        throw new IllegalStateException("cannot run '" + String.join(" ", command) + "': "
            + e.getMessage() + ". The partition bench needs iproute2 (ip).", e);
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
