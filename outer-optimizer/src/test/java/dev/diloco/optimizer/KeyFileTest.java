package dev.diloco.optimizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.rules.CommitSignatures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KeyFileTest {

  @Test
  void theKeyIsMadeOnceKeptInItsFileAndReadBack(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("keys").resolve("run.key");
    assertThatThrownBy(() -> KeyFile.load(file, false))
        .hasMessageContaining("run.key does not exist");
    KeyPair made = KeyFile.load(file, true);
    KeyPair read = KeyFile.load(file, true);
    assertThat(read.getPublic().getEncoded()).isEqualTo(made.getPublic().getEncoded());
    assertThat(read.getPrivate().getEncoded()).isEqualTo(made.getPrivate().getEncoded());
    assertThat(Files.getPosixFilePermissions(file)).extracting(Object::toString)
        .containsExactlyInAnyOrder("OWNER_READ", "OWNER_WRITE");

    // A file whose halves are not one key pair, or that is no key file, is refused.
    List<String> lines = Files.readAllLines(file);
    String otherPublic = java.util.Base64.getEncoder().encodeToString(CommitSignatures
        .generate().getPublic().getEncoded());
    Files.write(file, List.of(lines.get(0), lines.get(1), otherPublic));
    assertThatThrownBy(() -> KeyFile.load(file, false))
        .hasMessageContaining("its private and public keys are not a pair");
    Files.writeString(file, "hello\n");
    assertThatThrownBy(() -> KeyFile.load(file, false))
        .hasMessageContaining("is not a key file of diloco");
  }
}
