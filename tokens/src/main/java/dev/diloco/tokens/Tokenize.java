package dev.diloco.tokens;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code diloco tokenize}: inputs through a tokenizer into token shards (llm.c's layout) and a
 * manifest. Documents follow each other in the order given, with the tokenizer's end-of-text
 * token between two documents when it has one; the stream is cut into training shards of at
 * most {@code shardTokens}, and its last tokens (a count, or a fraction of all) become the
 * validation shard, as nanoGPT holds out the end of its text; a copy of the tokenizer goes
 * beside them. Everything is written in a
 * directory of its own under the output and moved into place once whole, so a failure leaves
 * nothing that looks like data.
 */
public final class Tokenize {

  /**
   * What to tokenize and how: {@code valTokens} when positive, else {@code valFraction} of all
   * tokens, is held out; {@code field} is the text's field in JSON lines.
   */
  public record Settings(List<Path> inputs, Path out, String field, long shardTokens,
      long valTokens, double valFraction) {

    public Settings {
      if (inputs == null || inputs.isEmpty()) {
        throw new IllegalArgumentException("nothing to tokenize: name at least one input");
      }
      if (shardTokens < 1 || shardTokens > TokenShardWriter.MAX_TOKENS) {
        throw new IllegalArgumentException("a shard holds 1 to " + TokenShardWriter.MAX_TOKENS
            + " tokens, got " + shardTokens);
      }
      if (valTokens < 0 || !(valFraction >= 0 && valFraction < 1)) {
        throw new IllegalArgumentException("held-out tokens must be >= 0 and the held-out "
            + "fraction in [0, 1), got " + valTokens + " and " + valFraction);
      }
    }
  }

  /** Told the tokens and bytes of text done so far, after each piece. */
  public interface Progress {
    void update(long tokens, long textBytes);
  }

  private final TokenizerFile tokenizer;
  private final Settings settings;
  private final Path work;
  /** The copy of the tokenizer beside the shards. */
  public static final String TOKENIZER = "tokenizer.json";
  /** Chars of text encoded in one call: a few pieces for each core. */
  private static final int BATCH_CHARS = 16 * Documents.PIECE_CHARS;

  private final List<Manifest.Shard> shards = new ArrayList<>();
  private final List<String> pending = new ArrayList<>();
  private final List<Boolean> startsDocument = new ArrayList<>();
  private long pendingChars;
  private TokenShardWriter writer;
  private long shardBytes;
  private long tokens;
  private long textBytes;
  private boolean started;

  private Tokenize(TokenizerFile tokenizer, Settings settings, Path work) {
    this.tokenizer = tokenizer;
    this.settings = settings;
    this.work = work;
  }

  /** Tokenizes as {@code settings} say; returns the manifest written beside the shards. */
  public static Manifest run(TokenizerFile tokenizer, Settings settings, Progress progress) {
    List<Path> inputs = expand(settings.inputs());
    Path out = settings.out();
    try {
      Files.createDirectories(out);
      if (Files.exists(out.resolve(Manifest.FILE))) {
        throw new IllegalArgumentException(out + " holds tokenized data already ("
            + Manifest.FILE + "): tokenize into a new directory");
      }
      Path work = Files.createTempDirectory(out, ".tokenize-");
      try {
        Tokenize job = new Tokenize(tokenizer, settings, work);
        List<Manifest.Input> read = new ArrayList<>();
        for (Path input : inputs) {
          read.add(new Manifest.Input(input.toString(), Documents.read(input, settings.field(),
              job.sink(progress))));
        }
        job.flush(progress);
        Manifest manifest = job.finish(read);
        for (Manifest.Shard s : job.shardsAndVal(manifest)) {
          Files.move(work.resolve(s.file()), out.resolve(s.file()),
              StandardCopyOption.ATOMIC_MOVE);
        }
        // The data carries its tokenizer: a run decodes samples and exports with it.
        Files.copy(tokenizer.path(), out.resolve(TOKENIZER), StandardCopyOption.REPLACE_EXISTING);
        manifest.write(work);
        Files.move(work.resolve(Manifest.FILE), out.resolve(Manifest.FILE),
            StandardCopyOption.ATOMIC_MOVE);
        return manifest;
      } finally {
        deleteTree(work);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + out + ": " + e.getMessage(), e);
    }
  }

  /** The inputs, each directory replaced by its regular files in name order. */
  private static List<Path> expand(List<Path> inputs) {
    List<Path> files = new ArrayList<>();
    for (Path input : inputs) {
      if (!Files.isDirectory(input)) {
        files.add(input);
        continue;
      }
      try (Stream<Path> walk = Files.walk(input)) {
        walk.filter(Files::isRegularFile).sorted().forEach(files::add);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot list " + input + ": " + e.getMessage(), e);
      }
    }
    return files;
  }

  private Documents.Sink sink(Progress progress) {
    return new Documents.Sink() {
      private boolean inDocument;

      @Override
      public void piece(String text) {
        pending.add(text);
        startsDocument.add(!inDocument);
        pendingChars += text.length();
        inDocument = true;
        if (pendingChars >= BATCH_CHARS) {
          flush(progress);
        }
      }

      @Override
      public void endOfDocument() {
        inDocument = false;
      }
    };
  }

  /** Encodes the pieces held, side by side, and writes their tokens in order. */
  private void flush(Progress progress) {
    if (pending.isEmpty()) {
      return;
    }
    int[][] encoded = tokenizer.encode(pending);
    for (int p = 0; p < encoded.length; p++) {
      if (startsDocument.get(p) && started && tokenizer.endOfText().isPresent()) {
        write(tokenizer.endOfText().getAsInt());
      }
      started = true;
      for (int id : encoded[p]) {
        write(id);
      }
    }
    pending.clear();
    startsDocument.clear();
    pendingChars = 0;
    progress.update(tokens, textBytes);
  }

  private void write(int id) {
    if (writer == null || writer.count() == settings.shardTokens()) {
      closeShard();
      writer = new TokenShardWriter(work.resolve(String.format("train_%06d.bin",
          shards.size())), tokenizer.vocabSize());
    }
    writer.write(id);
    int bytes = tokenizer.bytesOf(id);
    shardBytes += bytes;
    textBytes += bytes;
    tokens++;
  }

  private void closeShard() {
    if (writer != null) {
      writer.close();
      shards.add(new Manifest.Shard(writer.path().getFileName().toString(), writer.count(),
          shardBytes, writer.sha256()));
      writer = null;
      shardBytes = 0;
    }
  }

  /** Closes the last shard and holds out the end of the stream as the validation shard. */
  private Manifest finish(List<Manifest.Input> inputs) throws IOException {
    closeShard();
    long held = settings.valTokens() > 0 ? settings.valTokens()
        : Math.round(settings.valFraction() * tokens);
    if (tokens == 0) {
      throw new IllegalArgumentException("the inputs hold no text to tokenize");
    }
    if (held >= tokens) {
      throw new IllegalArgumentException("holding out " + held + " tokens leaves none to train "
          + "on: the inputs give " + tokens);
    }
    Manifest.Shard val = held == 0 ? null : holdOut(tokens - held);
    var info = new Manifest.TokenizerInfo(TOKENIZER, tokenizer.sha256(), tokenizer.vocabSize(),
        tokenizer.endOfText().isPresent() ? tokenizer.endOfText().getAsInt() : null);
    return new Manifest(Manifest.FORMAT, info, TokenShardWriter.widthFor(tokenizer.vocabSize()),
        inputs, List.copyOf(shards), val);
  }

  /** Moves tokens from {@code from} on into the validation shard, in order. */
  private Manifest.Shard holdOut(long from) throws IOException {
    Path valPath = work.resolve("val_000000.bin");
    long valBytes = 0;
    try (TokenShardWriter val = new TokenShardWriter(valPath, tokenizer.vocabSize())) {
      long start = 0;
      List<Manifest.Shard> kept = new ArrayList<>();
      for (Manifest.Shard s : shards) {
        long end = start + s.tokens();
        if (end <= from) {
          kept.add(s);
        } else {
          Path file = work.resolve(s.file());
          TokenShard shard = TokenShard.open(file, tokenizer.vocabSize());
          long keep = Math.max(0, from - start);
          long movedBytes = 0;
          for (long i = keep; i < s.tokens(); i++) {
            int id = shard.token(i);
            val.write(id);
            movedBytes += tokenizer.bytesOf(id);
          }
          valBytes += movedBytes;
          if (keep == 0) {
            Files.delete(file);
          } else {
            truncate(file, keep, shard.width());
            kept.add(new Manifest.Shard(s.file(), keep, s.textBytes() - movedBytes,
                Sha256.of(file)));
          }
        }
        start = end;
      }
      shards.clear();
      shards.addAll(kept);
      val.close();
      return new Manifest.Shard(valPath.getFileName().toString(), val.count(), valBytes,
          val.sha256());
    }
  }

  private static void truncate(Path file, long tokens, int width) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
      channel.truncate(TokenShard.HEADER_BYTES + tokens * width);
      ByteBuffer count = ByteBuffer.allocate(Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN)
          .putInt(0, (int) tokens);
      channel.write(count, 2 * Integer.BYTES);
      channel.force(true);
    }
  }

  /** The files to move into place: the training shards and the validation shard. */
  private List<Manifest.Shard> shardsAndVal(Manifest manifest) {
    List<Manifest.Shard> all = new ArrayList<>(manifest.train());
    if (manifest.val() != null) {
      all.add(manifest.val());
    }
    return all;
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
