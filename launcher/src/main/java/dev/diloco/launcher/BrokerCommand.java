package dev.diloco.launcher;

import dev.diloco.core.kafka.EmbeddedKafkaBroker;
import dev.diloco.core.kafka.KafkaClientConfig;
import java.nio.file.Path;
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
final class BrokerCommand implements Callable<Integer> {

  @Option(names = "--dir", defaultValue = "runs/broker", paramLabel = "DIR",
      description = "Directory for the broker's log and config (default: ${DEFAULT-VALUE}).")
  Path dir;

  @Option(names = "--port", defaultValue = "9092", paramLabel = "PORT",
      description = "Client port on 127.0.0.1; 0 picks a free one (default: ${DEFAULT-VALUE}).")
  int port;

  @Option(names = "--max-record-bytes", defaultValue = "" + KafkaClientConfig.DEFAULT_MAX_RECORD_BYTES,
      paramLabel = "BYTES",
      description = "Largest record the broker must accept (default: ${DEFAULT-VALUE}).")
  int maxRecordBytes;

  @Override
  public Integer call() throws InterruptedException {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("--port must be in 0..65535, got " + port);
    }
    EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.builder()
        .logDir(dir).port(port).maxRecordBytes(maxRecordBytes).start();
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      broker.close();
      stopped.countDown();
    }, "broker-shutdown"));
    System.out.printf("Kafka broker ready on %s (log in %s). Ctrl-C stops it.%n",
        broker.bootstrapServers(), broker.logDir());
    stopped.await();
    return 0;
  }
}
