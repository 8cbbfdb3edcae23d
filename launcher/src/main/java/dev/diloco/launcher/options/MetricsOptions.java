package dev.diloco.launcher.options;

import dev.diloco.core.kafka.RunTopics;
import dev.diloco.launcher.metrics.MetricsServer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** Where a service serves its meters for Prometheus to scrape: nowhere unless asked. */
public final class MetricsOptions {

  /** A TCP port, refused when the command line is read rather than once the service runs. */
  public static final class Port implements CommandLine.ITypeConverter<Integer> {
    @Override
    public Integer convert(String value) {
      int port;
      try {
        port = Integer.parseInt(value.trim());
      } catch (NumberFormatException e) {
        throw new CommandLine.TypeConversionException("'" + value + "' is not a port number");
      }
      if (port < 0 || port > 65535) {
        throw new CommandLine.TypeConversionException("a port is in 0..65535, got " + port);
      }
      return port;
    }
  }

  @Option(names = "--metrics-port", paramLabel = "PORT", converter = Port.class,
      description = "Serve Prometheus metrics on http://ADDRESS:PORT/metrics (default: off; 0 "
          + "takes a free port).")
  Integer port;

  @Option(names = "--metrics-address", defaultValue = "127.0.0.1", paramLabel = "ADDRESS",
      description = "The address the metrics listen on; 0.0.0.0 for every interface, as in a "
          + "container (default: ${DEFAULT-VALUE}).")
  String address;

  /** Where a service's meters go: a metrics server's registry, or one nobody reads. */
  public record Served(MetricsServer server, MeterRegistry registry) implements AutoCloseable {
    @Override
    public void close() {
      if (server != null) {
        server.close();
      } else {
        registry.close();
      }
    }
  }

  /**
   * The meters of {@code service} of run {@code topics}: served (and the address said on
   * standard output) when {@code --metrics-port} was given, else kept in memory only.
   */
  public Served serve(RunTopics topics, String service) {
    if (port == null) {
      return new Served(null, new SimpleMeterRegistry());
    }
    MetricsServer server = MetricsServer.start(address, port, topics, service);
    System.out.printf("%s metrics on %s%n", service, server.url());
    return new Served(server, server.registry());
  }
}
