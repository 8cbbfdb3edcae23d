package dev.diloco.broker;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import kafka.tools.StorageTool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Formats a new log directory with Kafka's own storage tool, as {@code kafka-storage.sh format}
 * does: a KRaft broker refuses to start on an unformatted directory. SCRAM users are created
 * here, because on KRaft they are part of the bootstrap metadata.
 */
final class StorageFormat {

  private static final Logger LOG = LoggerFactory.getLogger(StorageFormat.class);

  private StorageFormat() {}

  /**
   * Fails, saying what to do, when another broker holds {@code logDirs} (a running diloco run
   * or diloco broker): Kafka locks its log directory, and a second broker on it would die
   * deep in its start-up with a long trace.
   */
  static void requireUnlocked(Path logDirs, String elsewhere) {
    Path lock = logDirs.resolve(".lock");
    if (!Files.exists(lock)) {
      return;
    }
    try (FileChannel channel = FileChannel.open(lock, StandardOpenOption.WRITE);
        FileLock held = channel.tryLock()) {
      if (held != null) {
        return;
      }
    } catch (OverlappingFileLockException inThisJvm) {
      // held by a broker of this process
    } catch (IOException e) {
      throw new UncheckedIOException("cannot check the lock of " + logDirs, e);
    }
    throw new IllegalStateException("the broker log in " + logDirs.getParent() + " is in use by "
        + "another broker (a running diloco run or diloco broker): stop it first, or read the "
        + "run from it" + elsewhere);
  }

  /** Formats {@code logDirs} for the broker of {@code config}, unless it is formatted already. */
  static void formatIfNew(Path logDirs, Path config, String clusterId,
      Map<String, String> scramUsers) {
    if (Files.exists(logDirs.resolve("meta.properties"))) {
      return; // a restart: keep the log and its cluster id
    }
    List<String> args = new ArrayList<>(List.of("format", "--config", config.toString(),
        "--cluster-id", clusterId, "--ignore-formatted"));
    scramUsers.forEach((user, password) -> {
      args.add("--add-scram");
      args.add(BrokerProperties.SCRAM + "=[name=" + user + ",password=" + password + "]");
    });
    ByteArrayOutputStream output = new ByteArrayOutputStream();
    int exit;
    try (PrintStream out = new PrintStream(output, true, StandardCharsets.UTF_8)) {
      exit = StorageTool.execute(args.toArray(String[]::new), out);
    }
    String said = output.toString(StandardCharsets.UTF_8).trim();
    if (exit != 0) {
      throw new IllegalStateException("formatting the broker's log directory " + logDirs
          + " failed (exit " + exit + "): " + said);
    }
    LOG.debug("formatted {}: {}", logDirs, said);
  }
}
