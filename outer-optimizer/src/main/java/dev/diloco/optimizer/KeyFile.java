package dev.diloco.optimizer;

import dev.diloco.core.rules.CommitSignatures;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.List;

/**
 * The file that keeps the key a run's commits are signed with ({@link CommitSignatures}): the
 * optimizer's alone, readable by its owner only, made when a run starts and needed to resume it.
 */
public final class KeyFile {
  private KeyFile() {}

  /** What is signed to check that a file's two halves are one pair. */
  private static final byte[] PROBE = "diloco optimizer key probe".getBytes(StandardCharsets.UTF_8);

  /** The first line of a key file: what it holds, and in which layout. */
  private static final String KEY_FILE =
      "diloco optimizer key, Ed25519: PKCS #8 private, X.509 public";

  /**
   * The key pair kept in {@code file} (three lines: a header, the private key in PKCS #8 and the
   * public key in X.509, each in base64); made and written there, readable by its owner only,
   * when {@code create} and the file does not exist.
   */
  public static KeyPair load(Path file, boolean create) {
    if (!Files.exists(file) && !create) {
      throw new IllegalArgumentException("the optimizer's key " + file + " does not exist");
    }
    try {
      if (!Files.exists(file)) {
        KeyPair pair = CommitSignatures.generate();
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path written = Files.createTempFile(dir, ".key", ".tmp");
        try {
          trySetOwnerOnly(written);
          Base64.Encoder b64 = Base64.getEncoder();
          Files.writeString(written, KEY_FILE + "\n"
              + b64.encodeToString(pair.getPrivate().getEncoded()) + "\n"
              + b64.encodeToString(pair.getPublic().getEncoded()) + "\n");
          Files.move(written, file);
        } finally {
          Files.deleteIfExists(written);
        }
        return pair;
      }
      List<String> lines = Files.readAllLines(file);
      if (lines.size() < 3 || !lines.get(0).equals(KEY_FILE)) {
        throw new IllegalArgumentException(file + " is not a key file of diloco: its first line "
            + "is not '" + KEY_FILE + "'");
      }
      Base64.Decoder b64 = Base64.getDecoder();
      PrivateKey key = KeyFactory.getInstance(CommitSignatures.ALGORITHM)
          .generatePrivate(new PKCS8EncodedKeySpec(b64.decode(lines.get(1).trim())));
      KeyPair pair = new KeyPair(CommitSignatures.publicKey(b64.decode(lines.get(2).trim())), key);
      Signature probe = Signature.getInstance(CommitSignatures.ALGORITHM);
      probe.initSign(key);
      probe.update(PROBE);
      byte[] signature = probe.sign();
      probe.initVerify(pair.getPublic());
      probe.update(PROBE);
      if (!probe.verify(signature)) {
        throw new IllegalArgumentException("its private and public keys are not a pair");
      }
      return pair;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read or write the optimizer's key " + file, e);
    } catch (GeneralSecurityException | IllegalArgumentException e) {
      throw new IllegalArgumentException("the optimizer's key " + file + " is unreadable: "
          + e.getMessage(), e);
    }
  }

  private static void trySetOwnerOnly(Path file) throws IOException {
    try {
      Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    } catch (UnsupportedOperationException notPosix) {
      // a file system without POSIX permissions: the directory's own protection applies
    }
  }
}
