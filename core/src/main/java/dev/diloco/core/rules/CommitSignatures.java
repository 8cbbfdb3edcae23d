package dev.diloco.core.rules;

import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.schemas.RoundCommit;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UTFDataFormatException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;

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
    } catch (UTFDataFormatException e) {
      // Only a commit built outside AvroSerde's bounds has a string this long.
      throw new IllegalArgumentException("the commit of round " + c.getRound() + " holds a "
          + "string too long to sign: " + e.getMessage(), e);
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

  private static byte[] bytes(ByteBuffer buffer) {
    byte[] b = new byte[buffer.remaining()];
    buffer.duplicate().get(b);
    return b;
  }
}
