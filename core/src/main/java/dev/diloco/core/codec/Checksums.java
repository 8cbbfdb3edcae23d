package dev.diloco.core.codec;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.zip.CRC32C;

/**
 * CRC32C over payloads, the check every chunk carries; and SHA-256 over a whole weight vector,
 * the check every round commit carries.
 */
public final class Checksums {
  private Checksums() {}

  public static int crc32c(byte[] bytes, int offset, int length) {
    CRC32C crc = new CRC32C();
    crc.update(bytes, offset, length);
    return (int) crc.getValue();
  }

  /** CRC32C of the buffer's remaining bytes; the buffer's position is left as it was. */
  public static int crc32c(ByteBuffer bytes) {
    CRC32C crc = new CRC32C();
    crc.update(bytes.duplicate());
    return (int) crc.getValue();
  }

  /** The SHA-256 of the weights that {@code commit} carries, as a new array. */
  public static byte[] sha256Of(dev.diloco.schemas.RoundCommit commit) {
    byte[] sha = new byte[commit.getWeightsSha256().remaining()];
    commit.getWeightsSha256().duplicate().get(sha);
    return sha;
  }

  /** SHA-256 of {@code weights} as FP32 little-endian bytes, in element order. */
  public static byte[] sha256(float[] weights) {
    MessageDigest digest;
    try {
      digest = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this JVM has no SHA-256", e);
    }
    byte[] block = new byte[64 * 1024];
    int perBlock = block.length / 4;
    for (int from = 0; from < weights.length; from += perBlock) {
      int n = Math.min(perBlock, weights.length - from);
      TensorCodec.FP32.encode(weights, from, n, block, 0);
      digest.update(block, 0, 4 * n);
    }
    return digest.digest();
  }
}
