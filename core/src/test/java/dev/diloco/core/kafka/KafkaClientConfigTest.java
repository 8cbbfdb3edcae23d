package dev.diloco.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KafkaClientConfigTest {

  @TempDir
  Path dir;

  @Test
  void aPropertiesFileCarriesTheConnectionAndTheLargeRecordSettingsAreAdded() throws Exception {
    Path file = dir.resolve("cloud.properties");
    Files.writeString(file, """
        bootstrap.servers=pkc-1.example:9092
        security.protocol=SASL_SSL
        sasl.mechanism=PLAIN
        sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
          username="${env:KAFKA_API_KEY}" password="${env:KAFKA_API_SECRET}";
        config.providers=env
        config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider
        max.request.size=1000
        """);
    KafkaClientConfig config = KafkaClientConfig.load(null, file, 4 * 1024 * 1024);

    assertThat(config.bootstrapServers()).isEqualTo("pkc-1.example:9092");
    assertThat(config.producer())
        .containsEntry("security.protocol", "SASL_SSL")
        .containsEntry("enable.idempotence", "true")
        // a file may not lower what the run's records need
        .containsEntry("max.request.size", Integer.toString(5 * 1024 * 1024));
    assertThat(config.consumer("g"))
        .containsEntry("isolation.level", "read_committed")
        .containsEntry("group.id", "g")
        .containsEntry("max.partition.fetch.bytes", Integer.toString(5 * 1024 * 1024));
    assertThat(config.topic()).containsEntry("max.message.bytes", Integer.toString(5 * 1024 * 1024));
    assertThat(config.transactionalProducer("opt-run-1"))
        .containsEntry("transactional.id", "opt-run-1");
  }

  @Test
  void bootstrapServersGivenOnTheCommandLineWinOverTheFile() throws Exception {
    Path file = dir.resolve("c.properties");
    Files.writeString(file, "bootstrap.servers=file:9092\n");
    assertThat(KafkaClientConfig.load("cli:9092", file, 1 << 20).bootstrapServers())
        .isEqualTo("cli:9092");
  }

  @Test
  void aFileMayRaiseALimit() throws Exception {
    Path file = dir.resolve("c.properties");
    Files.writeString(file, "bootstrap.servers=b:9092\nbuffer.memory=999999999\n");
    assertThat(KafkaClientConfig.load(null, file, 1 << 20).producer())
        .containsEntry("buffer.memory", "999999999");
  }

  @Test
  void badInputGetsAClearError() throws Exception {
    assertThatThrownBy(() -> KafkaClientConfig.load(null, dir.resolve("missing.properties"), 1 << 20))
        .hasMessageContaining("missing.properties does not exist");
    assertThatThrownBy(() -> KafkaClientConfig.load(null, dir, 1 << 20))
        .hasMessageContaining("is not a readable file");
    Path empty = dir.resolve("empty.properties");
    Files.writeString(empty, "# nothing\n");
    assertThatThrownBy(() -> KafkaClientConfig.load(null, empty, 1 << 20))
        .hasMessageContaining("no Kafka bootstrap servers")
        .hasMessageContaining("empty.properties");
    Path broken = dir.resolve("broken.properties");
    Files.writeString(broken, "bootstrap.servers=b:9092\nkey=\\uZZZZ\n");
    assertThatThrownBy(() -> KafkaClientConfig.load(null, broken, 1 << 20))
        .hasMessageContaining("cannot read Kafka client properties file");
    Path notANumber = dir.resolve("nan.properties");
    Files.writeString(notANumber, "bootstrap.servers=b:9092\nmax.request.size=big\n");
    assertThatThrownBy(() -> KafkaClientConfig.load(null, notANumber, 1 << 20).producer())
        .hasMessageContaining("max.request.size must be a number of bytes, got 'big'");
    assertThatThrownBy(() -> KafkaClientConfig.load("b:9092", null, 10))
        .hasMessageContaining("got 10");
  }

  /** The template in config/ that the README points managed-cluster users to. */
  @Test
  void theSaslSslTemplateLoadsAndTakesItsSecretsFromTheEnvironmentOnly() throws Exception {
    Path template = Path.of("..", "config", "client-sasl-ssl.properties");
    KafkaClientConfig config = KafkaClientConfig.load(null, template,
        KafkaClientConfig.DEFAULT_MAX_RECORD_BYTES);
    assertThat(config.admin()).containsEntry("security.protocol", "SASL_SSL")
        .containsEntry("config.providers", "env");
    assertThat((String) config.admin().get("sasl.jaas.config"))
        .contains("username=\"${env:KAFKA_API_KEY}\"", "password=\"${env:KAFKA_API_SECRET}\"");
  }
}
