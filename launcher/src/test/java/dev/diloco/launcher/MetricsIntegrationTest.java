package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.diloco.broker.EmbeddedKafkaBroker;
import java.io.IOException;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every service of a run, each a process of its own with {@code --metrics-port}: each scrape
 * passes Prometheus's own linter ({@code promtool check metrics}), and a real Prometheus server
 * scraping the three returns the committed-rounds series from its query API. Needs Debian's
 * {@code prometheus} package ({@link Prometheus}). Every series the Grafana dashboard draws is
 * in one of the scrapes.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
@ExtendWith(NoProcessLeftBehind.class)
class MetricsIntegrationTest {

  private static final String RUN = "metrics";

  @TempDir
  Path dir;

  @Test
  void everyServiceServesMetricsThatPromtoolPassesAndPrometheusScrapes() throws Exception {
    Prometheus.tool("promtool");
    Path prometheus = Prometheus.tool("prometheus");

    List<Process> started = new ArrayList<>();
    EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.builder().logDir(dir.resolve("kafka"))
        .start();
    try {
      String bootstrap = broker.bootstrapServers();
      assertThat(Cli.run(new StringWriter(), new StringWriter(), "topics", "create", "--run",
          RUN, "--bootstrap-servers", bootstrap)).isZero();
      Map<String, Process> services = new LinkedHashMap<>();
      services.put("optimizer", start(bootstrap, "optimizer", "--start", "--model", "tiny",
          "--inner-steps", "5", "--key", dir.resolve("run.key").toString()));
      services.put("reducer", start(bootstrap, "reducer", "--state-dir",
          dir.resolve("reducer").toString()));
      services.put("worker", start(bootstrap, "worker", "--worker-id", "w0"));
      started.addAll(services.values());
      Map<String, String> urls = new LinkedHashMap<>();
      for (String service : services.keySet()) {
        urls.put(service, await().atMost(Duration.ofSeconds(60)).until(
            () -> Prometheus.servedAt(dir.resolve(service + ".log")), Optional::isPresent)
            .orElseThrow());
      }
      // A stepped round, and the worker's report of the round before: every service has done
      // its part at least once.
      await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500))
          .until(() -> Prometheus.value(Prometheus.get(urls.get("optimizer")),
              "diloco_rounds_committed_total{outcome=\"stepped\",run=\"metrics\","
                  + "service=\"optimizer\"}") >= 1
              && Prometheus.value(Prometheus.get(urls.get("worker")),
              "diloco_worker_rounds_total{run=\"metrics\",service=\"worker\",worker=\"w0\"}")
              >= 1);

      for (Map.Entry<String, String> e : urls.entrySet()) {
        Prometheus.lint("the " + e.getKey() + "'s scrape", Prometheus.get(e.getValue()),
            dir.resolve(e.getKey() + ".prom"));
      }
      // Every series the Grafana dashboard draws is in a scrape: Prometheus accepts a query of
      // a misspelt name (e2e.sh checks that it accepts each), which draws nothing. All but the
      // dead-letter counters, made at a service's first refusal (HostileInputIntegrationTest).
      StringBuilder scrapes = new StringBuilder();
      for (String service : urls.keySet()) {
        scrapes.append(Files.readString(dir.resolve(service + ".prom")));
      }
      Matcher drawn = Pattern.compile("diloco_[a-z_]+").matcher(Files.readString(
          Path.of("..", "docker", "grafana", "dashboards", "diloco.json")));
      int names = 0;
      while (drawn.find()) {
        String name = drawn.group();
        if (!name.endsWith("_dead_letters_total")) {
          assertThat(scrapes.toString().lines()).as("the dashboard's %s in a scrape", name)
              .anyMatch(l -> l.startsWith(name + "{") || l.startsWith(name + " "));
          names++;
        }
      }
      assertThat(names).as("series the dashboard draws").isGreaterThan(10);
      String worker = Files.readString(dir.resolve("worker.prom"));
      assertThat(Prometheus.value(worker, "diloco_worker_rounds_total{run=\"metrics\","
          + "service=\"worker\",worker=\"w0\"}")).isGreaterThanOrEqualTo(1);
      assertThat(Prometheus.value(worker, "diloco_kafka_sent_bytes_total{service=\"worker\","
          + "topic=\"diloco.metrics.pseudograds\"}")).isGreaterThan(0);
      assertThat(Prometheus.value(worker, "diloco_kafka_received_bytes_total{service=\"worker\","
          + "topic=\"diloco.metrics.weights\"}")).isGreaterThan(0);
      assertThat(worker).contains("diloco_worker_tokens_per_second{", "diloco_worker_eval_loss{",
          "diloco_worker_wait_seconds_sum{", "diloco_worker_compute_utilisation_ratio{");
      String reducer = Files.readString(dir.resolve("reducer.prom"));
      assertThat(Prometheus.value(reducer, "diloco_reducer_open_round_contributors{run=\"metrics\","
          + "service=\"reducer\"}")).isEqualTo(1);
      assertThat(Prometheus.value(reducer, "diloco_reducer_input_bytes_total{run=\"metrics\","
          + "service=\"reducer\"}")).isGreaterThan(0);

      // A Prometheus server scrapes the three once a second; its query API has the series.
      int port = freePort();
      Path config = dir.resolve("prometheus.yml");
      Files.writeString(config, "global:\n  scrape_interval: 1s\nscrape_configs:\n"
          + "  - job_name: diloco\n    static_configs:\n      - targets: ["
          + String.join(", ", urls.values().stream().map(u -> "'" + URI.create(u).getAuthority()
              + "'").toList()) + "]\n");
      Process server = new ProcessBuilder(prometheus.toString(),
          "--config.file=" + config, "--storage.tsdb.path=" + dir.resolve("tsdb"),
          "--web.listen-address=127.0.0.1:" + port).redirectErrorStream(true)
          .redirectOutput(dir.resolve("prometheus.log").toFile()).start();
      started.add(server);
      String query = "http://127.0.0.1:" + port + "/api/v1/query?query="
          + URLEncoder.encode("diloco_rounds_committed_total{outcome=\"stepped\"}",
              StandardCharsets.UTF_8);
      String answer = await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofSeconds(1))
          .ignoreExceptions()
          .until(() -> Prometheus.get(query), a -> a.contains("\"result\":[{"));
      assertThat(answer).contains("\"status\":\"success\"", "\"job\":\"diloco\"",
          "\"run\":\"metrics\"", "\"service\":\"optimizer\"");
    } finally {
      for (Process p : started) {
        p.destroy();
      }
      for (Process p : started) {
        if (!p.waitFor(15, TimeUnit.SECONDS)) {
          p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      }
      broker.close();
    }
  }

  /** A port free now, for a server that takes no port 0 (Prometheus). */
  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private Process start(String bootstrap, String command, String... args) throws IOException {
    List<String> line = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m", "-cp",
        System.getProperty("java.class.path"), Diloco.class.getName(), command, "--run", RUN,
        "--bootstrap-servers", bootstrap, "--metrics-port", "0"));
    line.addAll(List.of(args));
    return new ProcessBuilder(line).redirectErrorStream(true)
        .redirectOutput(dir.resolve(command + ".log").toFile()).start();
  }
}
