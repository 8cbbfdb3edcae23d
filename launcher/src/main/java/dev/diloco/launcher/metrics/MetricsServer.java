package dev.diloco.launcher.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.diloco.core.kafka.RunTopics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A service's meters in Prometheus's text format on {@code http://ADDRESS:PORT/metrics}: the
 * service's own (rounds, losses, sums), the bytes its Kafka clients moved per topic
 * ({@link KafkaTopicMeters}) and the JVM's. One request at a time, on a thread of its own.
 */
public final class MetricsServer implements AutoCloseable {

  /** The content type of Prometheus's text exposition format. */
  static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final HttpServer http;
  private final ExecutorService executor;
  private final JvmGcMetrics gc = new JvmGcMetrics();
  private final KafkaTopicMeters kafka;

  private MetricsServer(HttpServer http, RunTopics topics, String service) {
    this.http = http;
    // Two of the binder's meters break Prometheus's naming rules (promtool check metrics):
    // a count that is not a summary's, and a time in nanoseconds.
    registry.config().commonTags("service", service)
        .meterFilter(MeterFilter.deny(id -> id.getName().equals("system.cpu.count")
            || id.getName().equals("process.cpu.time")));
    new JvmMemoryMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    gc.bindTo(registry);
    this.kafka = new KafkaTopicMeters(registry, topics);
    this.executor = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "metrics-http");
      t.setDaemon(true);
      return t;
    });
    http.createContext("/metrics", this::scrape);
    http.createContext("/", MetricsServer::notFound);
    http.setExecutor(executor);
    http.start();
  }

  /**
   * Serves the meters of {@code service} (worker, reducer, optimizer, run: the tag every meter
   * carries) of run {@code topics} on {@code address:port}; port 0 takes a free one.
   */
  public static MetricsServer start(String address, int port, RunTopics topics, String service) {
    HttpServer http;
    try {
      http = HttpServer.create(new InetSocketAddress(address, port), 0);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serve metrics on " + address + ":" + port + ": "
          + e.getMessage(), e);
    }
    return new MetricsServer(http, topics, service);
  }

  /** Where the service's meters go. */
  public MeterRegistry registry() {
    return registry;
  }

  /** The port it listens on (the one taken, when started on port 0). */
  public int port() {
    return http.getAddress().getPort();
  }

  /** The address of the scrape, for the service's start-up line. */
  public String url() {
    return "http://" + http.getAddress().getHostString() + ":" + port() + "/metrics";
  }

  private void scrape(HttpExchange exchange) throws IOException {
    try (exchange) {
      if (!exchange.getRequestMethod().equals("GET") && !exchange.getRequestMethod()
          .equals("HEAD")) {
        exchange.getResponseHeaders().set("Allow", "GET, HEAD");
        exchange.sendResponseHeaders(405, -1);
        return;
      }
      byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().set("Content-Type", CONTENT_TYPE);
      boolean head = exchange.getRequestMethod().equals("HEAD");
      exchange.sendResponseHeaders(200, head ? -1 : body.length);
      if (!head) {
        try (OutputStream out = exchange.getResponseBody()) {
          out.write(body);
        }
      }
    }
  }

  private static void notFound(HttpExchange exchange) throws IOException {
    try (exchange) {
      byte[] body = "the metrics are at /metrics\n".getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(404, body.length);
      exchange.getResponseBody().write(body);
    }
  }

  @Override
  public void close() {
    http.stop(0);
    executor.shutdownNow();
    kafka.close();
    gc.close();
    registry.close();
  }
}
