package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;

/**
 * Prometheus's own tools from Debian's {@code prometheus} package, for the tests of what the
 * services serve. Without them a test is skipped, unless DILOCO_REQUIRE_PROMETHEUS is set (as
 * {@code .ci/run} does), when it fails.
 */
final class Prometheus {
  private Prometheus() {}

  private static final Pattern SERVED = Pattern.compile("metrics on (http://\\S+/metrics)");
  private static final HttpClient HTTP = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(5)).build();

  /** The tool's path; skips or fails the test when it is not on the PATH. */
  static Path tool(String name) {
    Optional<Path> found = find(name);
    if (System.getenv("DILOCO_REQUIRE_PROMETHEUS") == null) {
      Assumptions.assumeTrue(found.isPresent(),
          name + " is not on the PATH (apt-get install prometheus)");
    }
    assertThat(found).as("%s on the PATH (DILOCO_REQUIRE_PROMETHEUS is set)", name).isPresent();
    return found.get();
  }

  private static Optional<Path> find(String name) {
    return Arrays.stream(System.getenv().getOrDefault("PATH", "").split(":"))
        .map(d -> Path.of(d, name)).filter(Files::isExecutable).findFirst();
  }

  /**
   * Fails unless {@code promtool check metrics} passes {@code scrape} (saved in {@code file});
   * says so and checks nothing when promtool is not installed and not required.
   */
  static void lint(String what, String scrape, Path file) throws IOException,
      InterruptedException {
    if (find("promtool").isEmpty() && System.getenv("DILOCO_REQUIRE_PROMETHEUS") == null) {
      System.out.printf("promtool is not on the PATH: %s not linted%n", what);
      return;
    }
    Files.writeString(file, scrape);
    Process check = new ProcessBuilder(tool("promtool").toString(), "check", "metrics")
        .redirectInput(file.toFile()).redirectErrorStream(true).start();
    String said = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(check.waitFor(30, TimeUnit.SECONDS)).as("promtool ended").isTrue();
    assertThat(check.exitValue()).as("promtool check metrics on %s: %s", what, said).isZero();
  }

  /** The address a service said in {@code log} it serves its metrics on, once it has. */
  static Optional<String> servedAt(Path log) throws IOException {
    if (!Files.exists(log)) {
      return Optional.empty();
    }
    Matcher m = SERVED.matcher(Files.readString(log));
    return m.find() ? Optional.of(m.group(1)) : Optional.empty();
  }

  /** What {@code url} serves; fails on any status but 200. */
  static String get(String url) throws IOException, InterruptedException {
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as("GET %s", url).isEqualTo(200);
    return r.body();
  }

  /**
   * The samples of counter or gauge {@code metric} in a scrape, summed by the value of their
   * label {@code label}.
   */
  static Map<String, Double> byLabel(String scrape, String metric, String label) {
    Pattern value = Pattern.compile("[{,]" + label + "=\"([^\"]*)\"");
    Map<String, Double> sums = new TreeMap<>();
    scrape.lines().filter(l -> l.startsWith(metric + "{")).forEach(l -> {
      Matcher m = value.matcher(l.substring(0, l.lastIndexOf('}')));
      if (m.find()) {
        sums.merge(m.group(1), Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)),
            Double::sum);
      }
    });
    return sums;
  }

  /** The sample {@code series} (name and labels as written) of a scrape; -1 when absent. */
  static double value(String scrape, String series) {
    return scrape.lines().filter(l -> l.startsWith(series + " ")).findFirst()
        .map(l -> Double.parseDouble(l.substring(series.length() + 1).trim())).orElse(-1.0);
  }
}
