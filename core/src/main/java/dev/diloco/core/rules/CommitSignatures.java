package dev.diloco.core.rules;

import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.RoundCommit;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.List;

/**
 * Signed rounds: the outer optimizer signs every round commit with an Ed25519 key (in the
 * JDK), the run's description carries the public key, and whoever loads a round (workers, the
 * optimizer resuming, export, replay) takes only a commit whose signature verifies. Then a
 * forged round is refused even on a cluster without ACLs, or by a broker that was tampered
 * with: the SHA-256 in a commit pins the weights, and the signature pins the commit.
 *
 * <p>What is signed is every field of the commit but the signature, written in a fixed order
 * by {@link #signed} (not the Avro encoding, so that a commit read with a later schema
 * verifies alike).
 */
public final class CommitSignatures {
  private CommitSignatures() {}

  public static final String ALGORITHM = "Ed25519";
  /** What the signed bytes start with: this project's commits, this layout of them. */
  private static final String DOMAIN = "diloco round commit v1";

  public static KeyPair generate() {
    try {
      return KeyPairGenerator.getInstance(ALGORITHM).generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JVM has no " + ALGORITHM, e);
    }
  }

  /** {@code commit} with its signature by {@code key}. */
  public static RoundCommit sign(RoundCommit commit, PrivateKey key) {
    try {
      Signature signer = Signature.getInstance(ALGORITHM);
      signer.initSign(key);
      signer.update(signed(commit));
      return RoundCommit.newBuilder(commit).setSignature(ByteBuffer.wrap(signer.sign())).build();
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("cannot sign with this key: " + e.getMessage(), e);
    }
  }

  /**
   * Whether {@code commit} is one of run {@code run}'s: accepted in an unsigned run, or when
   * its signature verifies with the run's key; else BAD_SIGNATURE, naming the round.
   */
  public static Verdict<RoundCommit> check(ModelDescription run, RoundCommit commit) {
    if (run.getCommitKey() == null) {
      return Verdict.accept(commit);
    }
    String which = "the commit of round " + commit.getRound();
    if (commit.getSignature() == null) {
      return Verdict.reject(DeadLetterReason.BAD_SIGNATURE, which + " is not signed, and run "
          + run.getRunId() + " signs every commit");
    }
    try {
      Signature verifier = Signature.getInstance(ALGORITHM);
      verifier.initVerify(publicKey(bytes(run.getCommitKey())));
      verifier.update(signed(commit));
      if (verifier.verify(bytes(commit.getSignature()))) {
        return Verdict.accept(commit);
      }
    } catch (GeneralSecurityException | IllegalArgumentException e) {
      return Verdict.reject(DeadLetterReason.BAD_SIGNATURE, which + ": its signature cannot be "
          + "checked: " + e.getMessage());
    }
    return Verdict.reject(DeadLetterReason.BAD_SIGNATURE, which + " does not verify with run "
        + run.getRunId() + "'s key: it was not written by the run's optimizer");
  }

  /** The bytes a commit's signature covers: every field but the signature, in a fixed order. */
  static byte[] signed(RoundCommit c) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeUTF(DOMAIN);
      out.writeUTF(c.getRunId());
      out.writeInt(c.getRound());
      byte[] sha = bytes(c.getWeightsSha256());
      out.writeInt(sha.length);
      out.write(sha);
      out.writeLong(c.getTotalElements());
      out.writeInt(c.getChunkCount());
      out.writeLong(c.getWeightsOffset());
      out.writeUTF(c.getOutcome().name());
      out.writeBoolean(c.getReason() != null);
      out.writeUTF(c.getReason() == null ? "" : c.getReason());
      out.writeInt(c.getContributors().size());
      for (Contribution x : c.getContributors()) {
        out.writeUTF(x.getWorkerId());
        out.writeLong(x.getTokens());
        out.writeInt(x.getInnerSteps());
        out.writeFloat(x.getMeanInnerLoss());
      }
      OuterOptimizerConfig o = c.getOuterOptimizer();
      out.writeUTF(o.getMethod().name());
      out.writeDouble(o.getLearningRate());
      out.writeDouble(o.getMomentum());
      out.writeUTF(o.getAveraging().name());
      out.writeDouble(c.getOuterLearningRate());
      out.writeLong(c.getRoundOpenedAtMs());
      out.writeLong(c.getReductionDoneAtMs());
      out.writeLong(c.getCommittedAtMs());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  /** A public key from its X.509 encoding, as a run's description carries it. */
  public static PublicKey publicKey(byte[] x509) {
    try {
      return KeyFactory.getInstance(ALGORITHM).generatePublic(new X509EncodedKeySpec(x509));
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("not an " + ALGORITHM + " public key: "
          + e.getMessage(), e);
    }
  }

  /** The first line of a key file: what it holds, and in which layout. */
  private static final String KEY_FILE =
      "diloco optimizer key, Ed25519: PKCS #8 private, X.509 public";

  /**
   * The key pair kept in {@code file} (three lines: a header, the private key in PKCS #8 and the
   * public key in X.509, each in base64); made and written there, readable by its owner only,
   * when {@code create} and the file does not exist.
   */
  public static KeyPair keyPair(Path file, boolean create) {
    if (!Files.exists(file) && !create) {
      throw new IllegalArgumentException("the optimizer's key " + file + " does not exist");
    }
    try {
      if (!Files.exists(file)) {
        KeyPair pair = generate();
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
      PrivateKey key = KeyFactory.getInstance(ALGORITHM)
          .generatePrivate(new PKCS8EncodedKeySpec(b64.decode(lines.get(1).trim())));
      KeyPair pair = new KeyPair(publicKey(b64.decode(lines.get(2).trim())), key);
      Signature probe = Signature.getInstance(ALGORITHM);
      probe.initSign(key);
      probe.update(DOMAIN.getBytes(java.nio.charset.StandardCharsets.UTF_8));
      byte[] signature = probe.sign();
      probe.initVerify(pair.getPublic());
      probe.update(DOMAIN.getBytes(java.nio.charset.StandardCharsets.UTF_8));
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

  private static byte[] bytes(ByteBuffer buffer) {
    byte[] b = new byte[buffer.remaining()];
    buffer.duplicate().get(b);
    return b;
  }
}
