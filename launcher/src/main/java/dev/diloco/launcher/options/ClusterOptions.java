package dev.diloco.launcher.options;

import dev.diloco.core.kafka.KafkaClientConfig;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where the Kafka cluster is and how to talk to it: the options of every command that uses one. */
public final class ClusterOptions {

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT[,...]",
      description = "The Kafka cluster's bootstrap servers (or bootstrap.servers in --client-config).")
  String bootstrapServers;

  @Option(names = "--client-config", paramLabel = "FILE",
      description = "A Kafka client .properties file: security.protocol, SASL settings and the "
          + "like, e.g. for a managed cluster. Secrets can come from the environment with "
          + "config.providers=env and $${env:NAME}.")
  Path clientConfig;

  @Option(names = "--max-record-bytes", paramLabel = "BYTES",
      defaultValue = "" + KafkaClientConfig.DEFAULT_MAX_RECORD_BYTES,
      description = "Largest record of the run (default: ${DEFAULT-VALUE}).")
  int maxRecordBytes;

  /** Whether a cluster was named at all (else a command may use an embedded broker). */
  public boolean given() {
    return bootstrapServers != null || clientConfig != null;
  }

  public KafkaClientConfig clients() {
    return KafkaClientConfig.load(bootstrapServers, clientConfig, maxRecordBytes);
  }
}
