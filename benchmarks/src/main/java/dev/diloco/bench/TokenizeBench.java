package dev.diloco.bench;

import dev.diloco.tokens.Manifest;
import dev.diloco.tokens.TokenizerFile;
import dev.diloco.tokens.Tokenize;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code diloco bench tokenize}: {@code diloco tokenize}'s throughput, input file to shards on
 * disk, beside the tokenizer library's own encode rate on the same text in the same run: one
 * call on the whole text, and one batch of 64 Ki-char pieces (the library's path over every
 * core, which {@code Tokenize} takes).
 */
final class TokenizeBench {

  record Settings(Path tokenizer, Path input, int copies, int repeats, Path dir) {}

  record Rate(String what, long tokens, long bytes, double seconds) {
    double tokensPerSecond() {
      return tokens / seconds;
    }

    double megabytesPerSecond() {
      return bytes / seconds / 1e6;
    }
  }

  private TokenizeBench() {}

  static List<Rate> run(Settings s, PrintStream out) {
    try (TokenizerFile tokenizer = TokenizerFile.load(s.tokenizer())) {
      String text = Files.readString(s.input()).repeat(s.copies());
      Path copy = Files.writeString(s.dir().resolve("input.txt"), text);
      long bytes = text.getBytes(StandardCharsets.UTF_8).length;
      List<String> pieces = new ArrayList<>();
      for (int i = 0; i < text.length(); i += 1 << 16) {
        pieces.add(text.substring(i, Math.min(text.length(), i + (1 << 16))));
      }
      List<Rate> best = new ArrayList<>(List.of(new Rate("", 0, 0, Double.MAX_VALUE),
          new Rate("", 0, 0, Double.MAX_VALUE), new Rate("", 0, 0, Double.MAX_VALUE)));
      for (int r = 0; r < s.repeats(); r++) {
        long t0 = System.nanoTime();
        int whole = tokenizer.encode(text).length;
        keepBest(best, 0, new Rate("library: encode(whole text)", whole, bytes, since(t0)));
        t0 = System.nanoTime();
        long batched = 0;
        for (int[] p : tokenizer.encode(pieces)) {
          batched += p.length;
        }
        keepBest(best, 1, new Rate("library: batchEncode(64 Ki-char pieces)", batched, bytes,
            since(t0)));
        Path out2 = s.dir().resolve("out-" + r);
        t0 = System.nanoTime();
        Manifest m = Tokenize.run(tokenizer, new Tokenize.Settings(List.of(copy), out2, "text",
            100_000_000, 0, 0.1), (t, b) -> { });
        long tokens = m.trainTokens() + (m.val() == null ? 0 : m.val().tokens());
        keepBest(best, 2, new Rate("diloco tokenize (file to shards and manifest)", tokens,
            bytes, since(t0)));
      }
      out.printf("tokenize: %s on %s x %d (%,d bytes), best of %d, %d cores%n",
          s.tokenizer().getFileName(), s.input().getFileName(), s.copies(), bytes, s.repeats(),
          Runtime.getRuntime().availableProcessors());
      out.printf("| what | tokens | seconds | tokens/s | MB/s | vs library encode |%n");
      out.printf("| --- | ---: | ---: | ---: | ---: | ---: |%n");
      for (Rate rate : best) {
        out.printf("| %s | %,d | %.2f | %,.0f | %.2f | %.2fx |%n", rate.what(), rate.tokens(),
            rate.seconds(), rate.tokensPerSecond(), rate.megabytesPerSecond(),
            rate.tokensPerSecond() / best.get(0).tokensPerSecond());
      }
      return best;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void keepBest(List<Rate> best, int i, Rate rate) {
    if (rate.seconds() < best.get(i).seconds()) {
      best.set(i, rate);
    }
  }

  private static double since(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }
}
