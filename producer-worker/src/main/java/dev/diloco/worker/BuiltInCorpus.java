package dev.diloco.worker;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

/**
 * A deterministic synthetic corpus with learnable structure, for when no data is given: short
 * sentences from a small grammar with a skewed vocabulary, so a model can learn spelling, word
 * order and punctuation. The same seed gives the same bytes everywhere.
 */
public final class BuiltInCorpus {

  private static final String[] SUBJECTS = {"the king", "a fool", "my lord", "the queen",
      "this man", "our army", "the wind", "her brother", "good friar", "the night"};
  private static final String[] VERBS = {"speaks of", "fears", "loves", "betrays", "remembers",
      "sends for", "waits upon", "forgets", "commands", "follows"};
  private static final String[] OBJECTS = {"the crown", "his daughter", "a storm", "the sea",
      "old grief", "the tower", "sweet music", "a letter", "the gates", "our honour"};
  private static final String[] ENDINGS = {".", ".", ".", "!", "?", ";"};

  private BuiltInCorpus() {}

  public static byte[] generate(int bytes, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    StringBuilder text = new StringBuilder(bytes + 64);
    while (text.length() < bytes) {
      String subject = pick(SUBJECTS, random);
      text.append(Character.toUpperCase(subject.charAt(0))).append(subject.substring(1))
          .append(' ').append(pick(VERBS, random)).append(' ').append(pick(OBJECTS, random))
          .append(pick(ENDINGS, random));
      text.append(random.nextInt(4) == 0 ? "\n" : " ");
    }
    byte[] all = text.toString().getBytes(StandardCharsets.US_ASCII);
    return java.util.Arrays.copyOf(all, bytes);
  }

  /** Zipf-like: earlier entries come up more often. */
  private static String pick(String[] words, SplittableRandom random) {
    int i = (int) (words.length * Math.pow(random.nextDouble(), 2));
    return words[Math.min(i, words.length - 1)];
  }
}
