package dev.diloco.worker;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import dev.diloco.tokens.Tokens;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Text as bytes: a held-out evaluation slice (the last {@code evalFraction} of the corpus) and a
 * training stream that workers split into shards. By default (iid) the stream is cut into blocks
 * of {@link #BLOCK} bytes dealt round-robin, so every worker sees every part of the corpus; in
 * the non-iid mode each worker gets one contiguous region (different plays, say), as in the
 * DiLoCo paper's non-iid experiments.
 */
public final class ByteCorpus {

  /** Bytes per block of the iid deal. */
  public static final int BLOCK = 4096;

  private final byte[] bytes;
  private final int trainEnd;
  private final String source;

  private ByteCorpus(byte[] bytes, double evalFraction, String source) {
    if (!(evalFraction > 0 && evalFraction < 1)) {
      throw new IllegalArgumentException("evalFraction must be in (0, 1), got " + evalFraction);
    }
    this.bytes = bytes;
    this.trainEnd = (int) (bytes.length * (1 - evalFraction));
    this.source = source;
  }

  /** A text file, or every regular file under a directory in name order. */
  public static ByteCorpus load(Path path, double evalFraction) {
    if (!Files.exists(path)) {
      throw new IllegalArgumentException("data path " + path + " does not exist");
    }
    if (!Files.isDirectory(path) && !Files.isRegularFile(path)) {
      // A FIFO or a device would be read until it ends, which it may never do.
      throw new IllegalArgumentException("data path " + path + " is neither a regular file nor "
          + "a directory");
    }
    try {
      byte[] bytes;
      if (Files.isDirectory(path)) {
        try (Stream<Path> files = Files.walk(path)) {
          Path[] sorted = files.filter(Files::isRegularFile).sorted().toArray(Path[]::new);
          java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
          for (Path f : sorted) {
            all.write(Files.readAllBytes(f));
          }
          bytes = all.toByteArray();
        }
      } else {
        bytes = Files.readAllBytes(path);
      }
      return new ByteCorpus(bytes, evalFraction, path.toString());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read data " + path + ": " + e.getMessage(), e);
    }
  }

  /** Bytes in memory (tests, and the built-in corpus). */
  public static ByteCorpus of(byte[] bytes, double evalFraction, String source) {
    return new ByteCorpus(bytes.clone(), evalFraction, source);
  }

  public String source() {
    return source;
  }

  public int trainBytes() {
    return trainEnd;
  }

  /** The training bytes of worker {@code worker} of {@code workers}, iid. */
  public byte[] shard(int worker, int workers) {
    return shard(worker, workers, false);
  }

  /** The training bytes of worker {@code worker} of {@code workers}. */
  public byte[] shard(int worker, int workers, boolean nonIid) {
    if (workers < 1 || worker < 0 || worker >= workers) {
      throw new IllegalArgumentException("shard " + worker + " of " + workers + " does not exist");
    }
    if (nonIid) {
      int size = trainEnd / workers;
      return Arrays.copyOfRange(bytes, worker * size, (worker + 1) * size);
    }
    java.io.ByteArrayOutputStream shard = new java.io.ByteArrayOutputStream(trainEnd / workers);
    for (int start = worker * BLOCK; start < trainEnd; start += workers * BLOCK) {
      shard.write(bytes, start, Math.min(BLOCK, trainEnd - start));
    }
    return shard.toByteArray();
  }

  /** The training bytes, all of them, as tokens (not copied). */
  public Tokens trainTokens() {
    return Tokens.of(bytes).slice(0, trainEnd);
  }

  /** The held-out evaluation bytes as tokens (not copied). */
  public Tokens evalTokens() {
    return Tokens.of(bytes).slice(trainEnd, bytes.length);
  }

  /** The held-out evaluation bytes. */
  public byte[] evalSlice() {
    return Arrays.copyOfRange(bytes, trainEnd, bytes.length);
  }

  /**
   * The random source of inner step {@code step} of round {@code round} on worker
   * {@code worker}: a function of these and the run's seed alone, never of how long the process
   * has lived, so a worker that restarts, or joins late, draws what it would have drawn anyway.
   */
  public static SplittableRandom stepRandom(long seed, String worker, int round, int step) {
    long key = mix(seed);
    for (int i = 0; i < worker.length(); i++) {
      key = mix(key + worker.charAt(i));
    }
    return new SplittableRandom(mix(mix(mix(key + worker.length()) + round) + step));
  }

  /** MurmurHash3's 64-bit finalizer (Stafford's variant 13, as SplittableRandom uses it). */
  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }

  /** {@code batch} random windows of {@code length} bytes from {@code data}. */
  public static int[][] windows(byte[] data, int batch, int length, SplittableRandom random) {
    return windows(Tokens.of(data), batch, length, random);
  }

  /**
   * {@code batch} random windows of {@code length} + 1 tokens from {@code data}, each starting
   * anywhere a whole window fits: [B, T + 1].
   */
  public static int[][] windows(Tokens data, int batch, int length, SplittableRandom random) {
    long n = data.size();
    if (n <= length) {
      throw new IllegalArgumentException("the data has " + n + " tokens, fewer than a window "
          + "of " + (length + 1));
    }
    int[][] out = new int[batch][length + 1];
    for (int b = 0; b < batch; b++) {
      // nextInt below 2^31 positions: the draws of every run before data outgrew it.
      long start = n - length <= Integer.MAX_VALUE ? random.nextInt((int) (n - length))
          : random.nextLong(n - length);
      for (int i = 0; i <= length; i++) {
        out[b][i] = data.get(start + i);
      }
    }
    return out;
  }
}
