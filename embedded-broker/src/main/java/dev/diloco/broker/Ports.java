package dev.diloco.broker;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ports on 127.0.0.1 for the broker: a free one, the one a log directory had last time (so a
 * run directory served again keeps its address), or one the user asked for.
 */
final class Ports {

  static final String LOOPBACK = "127.0.0.1";
  private static final Logger LOG = LoggerFactory.getLogger(Ports.class);
  private static final String PORT_FILE = "broker.port";

  private Ports() {}

  /** The port {@code root} used last time if it is free, else any free port. */
  static int previousIfFree(Path root) {
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
    return free();
  }

  /** The port {@code root} used last time, if it says. */
  static java.util.Optional<Integer> previous(Path root) {
    try {
      return java.util.Optional.of(Integer.parseInt(Files.readString(root.resolve(PORT_FILE))
          .trim()));
    } catch (IOException | NumberFormatException e) {
      return java.util.Optional.empty();
    }
  }

  /** Remembers {@code port} as the one {@code root} uses. */
  static void remember(Path root, int port) {
    try {
      Files.writeString(root.resolve(PORT_FILE), Integer.toString(port));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + root.resolve(PORT_FILE), e);
    }
  }

  static int requireFree(int port) {
    if (!isFree(port)) {
      throw new IllegalStateException("port " + port + " on " + LOOPBACK + " is in use: "
          + "stop what holds it, or choose another port (0 picks a free one)");
    }
    return port;
  }

  static int free() {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot find a free port on " + LOOPBACK, e);
    }
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
}
