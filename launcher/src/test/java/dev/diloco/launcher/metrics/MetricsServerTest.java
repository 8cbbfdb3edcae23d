package dev.diloco.launcher.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.kafka.RunTopics;
import io.micrometer.core.instrument.Counter;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/** The scrape endpoint: what it serves, what it refuses, and that it lets its port go. */
class MetricsServerTest {

  private final HttpClient http = HttpClient.newHttpClient();

  @Test
  void servesTheMetersInPrometheusTextFormatOnMetricsOnly() throws Exception {
    int port;
    try (MetricsServer server = MetricsServer.start("127.0.0.1", 0, new RunTopics("t"),
        "worker")) {
      port = server.port();
      Counter.builder("diloco.test.sent").baseUnit("bytes").description("Bytes, for a test")
          .register(server.registry()).increment(42);
      HttpResponse<String> scrape = get(server.url(), "GET");
      assertThat(scrape.statusCode()).isEqualTo(200);
      assertThat(scrape.headers().firstValue("Content-Type")).hasValue(
          MetricsServer.CONTENT_TYPE);
      assertThat(scrape.body()).contains("# TYPE diloco_test_sent_bytes_total counter")
          .contains("diloco_test_sent_bytes_total{service=\"worker\"} 42.0")
          .contains("jvm_memory_used_bytes").doesNotContain("system_cpu_count");
      assertThat(get("http://127.0.0.1:" + port + "/", "GET").statusCode()).isEqualTo(404);
      assertThat(get(server.url(), "POST").statusCode()).isEqualTo(405);
      // Its port is taken: a second server says so, naming it.
      assertThatThrownBy(() -> MetricsServer.start("127.0.0.1", server.port(),
          new RunTopics("t"), "worker")).isInstanceOf(UncheckedIOException.class)
          .hasMessageStartingWith("cannot serve metrics on 127.0.0.1:" + server.port() + ": ");
    }
    try (MetricsServer again = MetricsServer.start("127.0.0.1", port, new RunTopics("t"),
        "worker")) {
      assertThat(again.port()).as("the port was let go").isEqualTo(port);
    }
  }

  @Test
  void anAddressThatIsNotThisMachinesIsRefusedNamingIt() {
    assertThatThrownBy(() -> MetricsServer.start("nowhere.invalid", 0, new RunTopics("t"),
        "worker")).hasMessageStartingWith("cannot serve metrics on nowhere.invalid:0: ");
    assertThatThrownBy(() -> MetricsServer.start("192.0.2.1", 0, new RunTopics("t"),
        "worker")).hasMessageStartingWith("cannot serve metrics on 192.0.2.1:0: ");
  }

  private HttpResponse<String> get(String url, String method) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url))
        .method(method, HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
