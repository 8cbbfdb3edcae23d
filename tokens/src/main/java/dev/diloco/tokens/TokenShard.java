package dev.diloco.tokens;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One file of tokens, memory-mapped: never read into the heap, so a worker trains on more tokens
 * than its heap holds. llm.c's layout: a header of 256 little-endian int32 ({@code [0]} the
 * magic, {@link #MAGIC_UINT16} for uint16 tokens or {@link #MAGIC_UINT32} for uint32,
 * {@code [1]} version 1, {@code [2]} the token count), then the tokens, little-endian; or
 * nanoGPT's headerless {@code .bin}, uint16 tokens alone ({@link #headerless}). Every token is
 * checked against the vocabulary when the file is opened, so a bad one fails before training,
 * naming the file and the position.
 */
public final class TokenShard {

  public static final int MAGIC_UINT16 = 20240520;
  public static final int MAGIC_UINT32 = 20240801;
  public static final int VERSION = 1;
  public static final int HEADER_BYTES = 256 * Integer.BYTES;
  /** Bytes per mapping: a file over 2 GiB takes several (a buffer is indexed by int). */
  private static final long SEGMENT = 1L << 30;

  private final Path path;
  private final int width;
  private final long size;
  private final ByteBuffer[] segments;

  private TokenShard(Path path, int width, long offset, long size, FileChannel channel)
      throws IOException {
    this.path = path;
    this.width = width;
    this.size = size;
    long bytes = size * width;
    this.segments = new ByteBuffer[(int) ((bytes + SEGMENT - 1) / SEGMENT)];
    for (int s = 0; s < segments.length; s++) {
      long start = s * SEGMENT;
      segments[s] = channel.map(FileChannel.MapMode.READ_ONLY, offset + start,
          Math.min(SEGMENT, bytes - start)).order(ByteOrder.LITTLE_ENDIAN);
    }
  }

  /** A shard in llm.c's layout whose every token is below {@code vocabSize}. */
  public static TokenShard open(Path path, int vocabSize) {
    try (FileChannel channel = channel(path)) {
      long length = channel.size();
      if (length < HEADER_BYTES) {
        throw bad(path, "it has " + length + " bytes, fewer than the " + HEADER_BYTES
            + " of the header");
      }
      ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
      while (header.hasRemaining() && channel.read(header, header.position()) >= 0) {
        // a regular file reads whole
      }
      int magic = header.getInt(0);
      int width = magic == MAGIC_UINT16 ? 2 : magic == MAGIC_UINT32 ? 4 : 0;
      if (width == 0) {
        throw bad(path, "its magic number is " + magic + ", not " + MAGIC_UINT16 + " (uint16 "
            + "tokens) or " + MAGIC_UINT32 + " (uint32): not a token file in llm.c's layout "
            + "(a nanoGPT .bin without a header needs --vocab-size)");
      }
      if (header.getInt(4) != VERSION) {
        throw bad(path, "its version is " + header.getInt(4) + ", not " + VERSION);
      }
      long count = Integer.toUnsignedLong(header.getInt(8));
      long expected = HEADER_BYTES + count * width;
      if (length != expected) {
        throw bad(path, "its header says " + count + " tokens of " + width + " bytes, "
            + expected + " bytes in all, but it has " + length
            + (length < expected ? " (truncated)" : " (bytes after the tokens)"));
      }
      return checked(new TokenShard(path, width, HEADER_BYTES, count, channel), vocabSize);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read token file " + path + ": " + e.getMessage(), e);
    }
  }

  /** nanoGPT's headerless file: uint16 tokens alone, each below {@code vocabSize}. */
  public static TokenShard headerless(Path path, int vocabSize) {
    if (vocabSize > 1 << 16) {
      throw new IllegalArgumentException("a headerless token file holds uint16 tokens; a "
          + "vocabulary of " + vocabSize + " does not fit");
    }
    try (FileChannel channel = channel(path)) {
      long length = channel.size();
      if (length % 2 != 0) {
        throw bad(path, "it has " + length + " bytes, not a whole number of uint16 tokens");
      }
      return checked(new TokenShard(path, 2, 0, length / 2, channel), vocabSize);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read token file " + path + ": " + e.getMessage(), e);
    }
  }

  private static FileChannel channel(Path path) throws IOException {
    if (!Files.isRegularFile(path)) {
      throw bad(path, Files.exists(path) ? "it is not a regular file" : "it does not exist");
    }
    return FileChannel.open(path, StandardOpenOption.READ);
  }

  private static TokenShard checked(TokenShard shard, int vocabSize) {
    if (vocabSize < 1) {
      throw new IllegalArgumentException("a vocabulary has at least one token, got " + vocabSize);
    }
    if (shard.size == 0) {
      throw bad(shard.path, "it holds no token");
    }
    for (long i = 0; i < shard.size; i++) {
      int token = shard.token(i);
      if (token < 0 || token >= vocabSize) {
        throw bad(shard.path, "token " + i + " is " + Integer.toUnsignedString(token)
            + ", not below the vocabulary's " + vocabSize);
      }
    }
    return shard;
  }

  private static IllegalArgumentException bad(Path path, String why) {
    return new IllegalArgumentException("token file " + path + ": " + why);
  }

  public Path path() {
    return path;
  }

  /** Tokens in the file. */
  public long size() {
    return size;
  }

  /** Bytes per token: 2 or 4. */
  public int width() {
    return width;
  }

  /** Token {@code i}. */
  public int token(long i) {
    long at = i * width;
    ByteBuffer segment = segments[(int) (at / SEGMENT)];
    int in = (int) (at % SEGMENT);
    return width == 2 ? Short.toUnsignedInt(segment.getShort(in)) : segment.getInt(in);
  }
}
