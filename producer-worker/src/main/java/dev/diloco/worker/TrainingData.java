package dev.diloco.worker;

import dev.diloco.schemas.ModelDescription;
import dev.diloco.tokens.Manifest;
import dev.diloco.tokens.Sha256;
import dev.diloco.tokens.TokenShard;
import dev.diloco.tokens.Tokens;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a worker trains and evaluates on: the bytes of a text (a file, or a directory of them:
 * {@link ByteCorpus}), the shards {@code diloco tokenize} wrote (its {@code manifest.json}, or
 * the directory that holds it), or one token file: in llm.c's layout, or nanoGPT's headerless
 * {@code .bin} (uint16 tokens alone, read with the vocabulary its caller gives). Shards are mapped from disk,
 * never read into the heap. Evaluation takes the validation shard, or else the last
 * {@code evalFraction} of the tokens.
 *
 * @param vocab the tokens' vocabulary: 256 for bytes, the tokenizer's otherwise
 * @param manifest the manifest the shards came with; null for text and for a lone token file
 * @param manifestSha256 the SHA-256 of the manifest's file, in hex; null without one
 * @param evalBytesPerToken the bytes of text an evaluation token stands for, on average: 1 for
 *     bytes, the validation shard's text bytes over its tokens as its manifest counts them, NaN
 *     for a token file without a manifest
 */
public record TrainingData(Tokens train, Tokens eval, int vocab, String source,
    Manifest manifest, String manifestSha256, double evalBytesPerToken) {

  /** Tokens a block of the iid deal holds: a worker's part is every n-th block. */
  public static final int BLOCK = ByteCorpus.BLOCK;

  /** Bytes of text. */
  public static TrainingData of(ByteCorpus corpus) {
    return new TrainingData(corpus.trainTokens(), corpus.evalTokens(), ModelConfig.VOCAB,
        corpus.source(), null, null, 1.0);
  }

  /**
   * The data at {@code path}, checked to fit a model over {@code vocab} tokens (0: whatever the
   * data says, for a caller that sizes the model from it); refuses, by name, data of another
   * vocabulary and token files that are not sound ({@link TokenShard}).
   */
  public static TrainingData load(Path path, double evalFraction, int vocab) {
    Path manifest = Files.isDirectory(path) ? path.resolve(Manifest.FILE)
        : path.getFileName().toString().equals(Manifest.FILE) ? path : null;
    if (manifest != null && Files.isRegularFile(manifest)) {
      return fromManifest(manifest, vocab);
    }
    if (Files.isRegularFile(path) && isTokenFile(path)) {
      requireVocab(vocab, path, "does not say its vocabulary");
      return lone(TokenShard.open(path, vocab), evalFraction, vocab);
    }
    if (Files.isRegularFile(path) && path.toString().endsWith(".bin")) {
      // No llm.c header: nanoGPT's uint16 tokens alone, which say nothing of their vocabulary.
      requireVocab(vocab, path, "has no llm.c header (nanoGPT's uint16 tokens alone, say)");
      return lone(TokenShard.headerless(path, vocab), evalFraction, vocab);
    }
    if (vocab > 0 && vocab < ModelConfig.VOCAB) {
      throw new IllegalArgumentException("data " + path + " is text, read as bytes (a "
          + "vocabulary of " + ModelConfig.VOCAB + "), but the run's model has a vocabulary of "
          + vocab + ": give the tokens its tokenizer made (diloco tokenize)");
    }
    return of(ByteCorpus.load(path, evalFraction));
  }

  private static void requireVocab(int vocab, Path path, String why) {
    if (vocab < 1) {
      throw new IllegalArgumentException("token file " + path + " " + why + ": give its "
          + "vocabulary (--vocab-size), or the directory diloco tokenize wrote (its manifest "
          + "says it)");
    }
  }

  /** One token file without a manifest: its last {@code evalFraction} is held out. */
  private static TrainingData lone(TokenShard shard, double evalFraction, int vocab) {
    Tokens all = Tokens.of(List.of(shard));
    long held = heldOut(all.size(), evalFraction, shard.path());
    return new TrainingData(all.slice(0, all.size() - held),
        all.slice(all.size() - held, all.size()), vocab, shard.path().toString(), null, null,
        Double.NaN);
  }

  private static TrainingData fromManifest(Path file, int vocab) {
    Manifest m = Manifest.read(file);
    int size = m.tokenizer().vocabSize();
    if (vocab > 0 && vocab < size) {
      throw new IllegalArgumentException("data " + file + " was tokenized by "
          + m.tokenizer().file() + " (SHA-256 " + m.tokenizer().sha256() + ") into a "
          + "vocabulary of " + size + ", but the run's model has a vocabulary of " + vocab);
    }
    Path dir = file.toAbsolutePath().getParent();
    List<TokenShard> train = new ArrayList<>();
    for (Manifest.Shard s : m.train()) {
      train.add(opened(dir, s, size));
    }
    Tokens all = Tokens.of(train);
    Tokens eval;
    if (m.val() != null) {
      eval = Tokens.of(List.of(opened(dir, m.val(), size)));
    } else {
      long held = heldOut(all.size(), 0.1, file);
      eval = all.slice(all.size() - held, all.size());
      all = all.slice(0, all.size() - held);
    }
    Manifest.Shard val = m.val();
    double bytesPerToken = val != null ? (double) val.textBytes() / val.tokens()
        : (double) m.trainTextBytes() / m.trainTokens();
    return new TrainingData(all, eval, size, file.toString(), m, Sha256.of(file), bytesPerToken);
  }

  /** A shard of the manifest, which must hold the tokens the manifest says. */
  private static TokenShard opened(Path dir, Manifest.Shard s, int vocab) {
    TokenShard shard = TokenShard.open(dir.resolve(s.file()), vocab);
    if (shard.size() != s.tokens()) {
      throw new IllegalArgumentException("token file " + shard.path() + " holds "
          + shard.size() + " tokens; its manifest says " + s.tokens());
    }
    return shard;
  }

  private static long heldOut(long tokens, double fraction, Path path) {
    long held = (long) (tokens * fraction);
    if (held < 1 || held >= tokens) {
      throw new IllegalArgumentException("data " + path + " has " + tokens + " tokens: too "
          + "few to hold out a fraction of " + fraction + " for evaluation");
    }
    return held;
  }

  /** {@code run} with what it must know of this data: its tokenizer and its manifest. */
  public ModelDescription describe(ModelDescription run) {
    return ModelDescription.newBuilder(run)
        .setTokenizerSha256(manifest == null ? null : manifest.tokenizer().sha256())
        .setEndOfText(manifest == null ? null : manifest.tokenizer().endOfText())
        .setDataSha256(manifestSha256).build();
  }

  /**
   * Refuses, by name, data that is not the run's: tokens of another tokenizer, or shards of
   * another manifest than the one the run's description names.
   */
  public void requireFor(ModelDescription run) {
    String tokenizer = manifest == null ? null : manifest.tokenizer().sha256();
    if (run.getTokenizerSha256() != null && !run.getTokenizerSha256().equals(tokenizer)) {
      throw new IllegalArgumentException("run " + run.getRunId() + "'s tokens were made by the "
          + "tokenizer with SHA-256 " + run.getTokenizerSha256() + "; data " + source
          + (tokenizer == null ? " names no tokenizer" : " was made by " + tokenizer));
    }
    if (run.getDataSha256() != null && !run.getDataSha256().equals(manifestSha256)) {
      throw new IllegalArgumentException("run " + run.getRunId() + " trains on the data whose "
          + "manifest has SHA-256 " + run.getDataSha256() + "; data " + source + (manifestSha256
          == null ? " has no manifest" : "'s has " + manifestSha256) + ": give every worker "
          + "the data the run was started with");
    }
  }

  /**
   * Whether {@code path} holds tokens rather than text: a directory or manifest of diloco
   * tokenize, a file with llm.c's header, or nanoGPT's headerless {@code .bin}.
   */
  public static boolean isTokens(Path path) {
    return Files.isRegularFile(path.resolve(Manifest.FILE))
        || path.getFileName() != null && path.getFileName().toString().equals(Manifest.FILE)
        || Files.isRegularFile(path) && (isTokenFile(path) || path.toString().endsWith(".bin"));
  }

  /** Whether the file starts with llm.c's magic number. */
  static boolean isTokenFile(Path path) {
    try (InputStream in = Files.newInputStream(path)) {
      byte[] head = in.readNBytes(4);
      if (head.length < 4) {
        return false;
      }
      int magic = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt();
      return magic == TokenShard.MAGIC_UINT16 || magic == TokenShard.MAGIC_UINT32;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read data " + path + ": " + e.getMessage(), e);
    }
  }

  /**
   * A loss in nats per token as bits per byte of text (loss · tokens / bytes / ln 2), which
   * compares models across tokenizers; NaN when the bytes per token are unknown (NaN).
   */
  public static double bitsPerByte(double natsPerToken, double bytesPerToken) {
    return natsPerToken / bytesPerToken / Math.log(2);
  }

  /** The tokenizer beside the shards, when they came with a manifest; else null. */
  public Path tokenizer() {
    return manifest == null ? null
        : Path.of(source).toAbsolutePath().getParent().resolve(manifest.tokenizer().file());
  }

  /** Worker {@code worker}'s part of the training tokens, of {@code workers} (disjoint). */
  public Tokens shard(int worker, int workers, boolean nonIid) {
    return train.part(worker, workers, BLOCK, nonIid);
  }
}
