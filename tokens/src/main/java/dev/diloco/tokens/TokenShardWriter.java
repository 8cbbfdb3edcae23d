package dev.diloco.tokens;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Writes one token file in llm.c's layout ({@link TokenShard}): the header's count is written
 * when it is closed, so tokens stream through without being held. Its SHA-256, of the whole
 * file as closed, goes into the manifest.
 */
public final class TokenShardWriter implements AutoCloseable {

  /** The most tokens one file holds: its header counts them in an int32. */
  public static final long MAX_TOKENS = Integer.MAX_VALUE;

  private final Path path;
  private final int width;
  private final OutputStream out;
  private final byte[] token;
  private long count;
  private String sha256;

  /** A new file at {@code path} for tokens below {@code vocabSize}: uint16 when they fit. */
  public TokenShardWriter(Path path, int vocabSize) {
    this.path = path;
    this.width = widthFor(vocabSize);
    this.token = new byte[width];
    try {
      this.out = new BufferedOutputStream(Files.newOutputStream(path), 1 << 16);
      out.write(new byte[TokenShard.HEADER_BYTES]);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + path + ": " + e.getMessage(), e);
    }
  }

  /** Bytes per token for a vocabulary of {@code vocabSize}: 2 when every id fits in uint16. */
  public static int widthFor(int vocabSize) {
    return vocabSize <= 1 << 16 ? 2 : 4;
  }

  public void write(int id) {
    if (count == MAX_TOKENS) {
      throw new IllegalStateException(path + " holds " + MAX_TOKENS + " tokens, the most a "
          + "file's header counts");
    }
    token[0] = (byte) id;
    token[1] = (byte) (id >>> 8);
    if (width == 4) {
      token[2] = (byte) (id >>> 16);
      token[3] = (byte) (id >>> 24);
    }
    try {
      out.write(token);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + path + ": " + e.getMessage(), e);
    }
    count++;
  }

  public long count() {
    return count;
  }

  public Path path() {
    return path;
  }

  /** The SHA-256 of the closed file, in hex. */
  public String sha256() {
    if (sha256 == null) {
      throw new IllegalStateException(path + " is not closed yet");
    }
    return sha256;
  }

  @Override
  public void close() {
    if (sha256 != null) {
      return;
    }
    try {
      out.close();
      ByteBuffer header = ByteBuffer.allocate(3 * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN)
          .putInt(width == 2 ? TokenShard.MAGIC_UINT16 : TokenShard.MAGIC_UINT32)
          .putInt(TokenShard.VERSION).putInt((int) count).flip();
      try (FileChannel file = FileChannel.open(path, StandardOpenOption.WRITE)) {
        while (header.hasRemaining()) {
          file.write(header, header.position());
        }
        file.force(true);
      }
      sha256 = Sha256.of(path);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + path + ": " + e.getMessage(), e);
    }
  }
}
