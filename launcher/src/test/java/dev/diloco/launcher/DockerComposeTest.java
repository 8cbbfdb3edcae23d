package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.diloco.core.kafka.KafkaClientConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * What can be checked of docker/ without a Docker engine (docker/e2e.sh runs it for real):
 * every diloco service's command line parses with the diloco command's own parser, in the
 * compose file and its local override; the file has no key Compose v1 refuses or ignores; the
 * images' entry point is a file both Dockerfiles copy from this repository; and the broker
 * allows the run's largest record.
 */
class DockerComposeTest {

  private static final Path DOCKER = Path.of("..", "docker");
  private static final Pattern VARIABLE = Pattern.compile("\\$\\{(\\w+)(?::-([^}]*))?}");

  private final JsonNode compose = read("docker-compose.yml");

  private static JsonNode read(String file) {
    try {
      return new ObjectMapper(new YAMLFactory()).readTree(DOCKER.resolve(file).toFile());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** Compose's ${NAME:-default}, with the defaults (the variables are not set here). */
  private static String substitute(String value) {
    Matcher m = VARIABLE.matcher(value);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      assertThat(m.group(2)).as("a default for ${%s}", m.group(1)).isNotNull();
      m.appendReplacement(out, Matcher.quoteReplacement(m.group(2)));
    }
    return m.appendTail(out).toString();
  }

  private static List<String> args(JsonNode command) {
    List<String> args = new ArrayList<>();
    command.forEach(a -> args.add(substitute(a.asText())));
    return args;
  }

  @Test
  void everyDilocoServiceCommandIsAcceptedByTheDilocoParser() {
    assertThat(dilocoServices(compose)).contains("topics", "optimizer", "reducer", "worker");
    assertThat(dilocoServices(read("docker-compose.local.yml"))).containsExactly("kafka");
    assertThat(dilocoServices(read("docker-compose.cloud.yml")))
        .containsExactly("optimizer", "reducer", "worker");
  }

  @Test
  void theFileHasNoKeyThatComposeV1RefusesOrIgnores() {
    for (JsonNode file : List.of(compose, read("docker-compose.local.yml"),
        read("docker-compose.cloud.yml"))) {
      file.fieldNames().forEachRemaining(key -> assertThat(key).as("a top-level key")
          .matches("services|volumes|networks|x-.*"));
      file.get("services").properties().forEach(s -> assertThat(s.getValue().has("deploy"))
          .as("service %s has deploy: (v1 ignores it; scale with --scale)", s.getKey())
          .isFalse());
    }
  }

  /** The services of {@code file} (or of the file it overrides) that run the diloco image. */
  private List<String> dilocoServices(JsonNode file) {
    List<String> checked = new ArrayList<>();
    for (Map.Entry<String, JsonNode> service : file.get("services").properties()) {
      JsonNode s = service.getValue();
      String image = s.has("image") ? s.get("image").asText()
          : compose.get("services").path(service.getKey()).path("image").asText();
      if (!image.startsWith("diloco") || !s.has("command")) {
        continue;
      }
      List<String> args = args(s.get("command"));
      assertThatCode(() -> Diloco.commandLine().parseArgs(args.toArray(String[]::new)))
          .as("service %s: %s", service.getKey(), args).doesNotThrowAnyException();
      JsonNode health = s.path("healthcheck").path("test");
      if (health.isArray() && health.get(0).asText().equals("CMD")
          && health.get(1).asText().equals("/opt/diloco/bin/diloco")) {
        List<String> probe = args(health).subList(1, health.size());
        assertThatCode(() -> Diloco.commandLine().parseArgs(probe.subList(1, probe.size())
            .toArray(String[]::new))).as("health check of %s", service.getKey())
            .doesNotThrowAnyException();
      }
      checked.add(service.getKey());
    }
    return checked;
  }

  @Test
  void theEntryPointIsAFileOfThisRepositoryThatTheImagesCopy() throws Exception {
    entryPointOf("Dockerfile");
    entryPointOf("Dockerfile.prebuilt");
  }

  private static void entryPointOf(String file) throws Exception {
    String dockerfile = Files.readString(DOCKER.resolve(file));
    Matcher entry = Pattern.compile("ENTRYPOINT \\[\"([^\"]+)\"]").matcher(dockerfile);
    assertThat(entry.find()).as("an exec-form ENTRYPOINT").isTrue();
    Matcher copy = Pattern.compile("COPY (docker/\\S+) " + Pattern.quote(entry.group(1)))
        .matcher(dockerfile);
    assertThat(copy.find()).as("a COPY of a repository file to %s", entry.group(1)).isTrue();
    Path script = Path.of("..").resolve(copy.group(1));
    assertThat(script).isRegularFile();
    assertThat(Files.isExecutable(script)).as("%s is executable", script).isTrue();
    assertThat(Files.readString(script)).contains(Diloco.class.getName());
  }

  @Test
  void theBrokerAllowsTheLargestRecordOfARun() {
    JsonNode env = compose.get("services").get("kafka").get("environment");
    int limit = KafkaClientConfig.of("kafka:9092").recordLimitBytes();
    assertThat(env.get("KAFKA_MESSAGE_MAX_BYTES").asInt()).isGreaterThanOrEqualTo(limit);
    assertThat(env.get("KAFKA_REPLICA_FETCH_MAX_BYTES").asInt()).isGreaterThanOrEqualTo(limit);
    assertThat(substitute(compose.get("services").get("kafka").get("image").asText()))
        .startsWith("apache/kafka:");
  }
}
