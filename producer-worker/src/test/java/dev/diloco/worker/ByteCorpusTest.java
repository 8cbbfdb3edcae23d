package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ByteCorpusTest {

  private final byte[] text = BuiltInCorpus.generate(100_000, 3);
  private final ByteCorpus corpus = ByteCorpus.of(text, 0.1, "test");

  @Test
  void iidShardsDealBlocksSoEveryWorkerSeesEveryRegion() {
    byte[] a = corpus.shard(0, 3);
    byte[] b = corpus.shard(1, 3);
    byte[] c = corpus.shard(2, 3);
    assertThat(a.length + b.length + c.length).isEqualTo(corpus.trainBytes());
    // worker 1's second block is block 4 of the stream: bytes [16384, 20480)
    assertThat(java.util.Arrays.copyOfRange(b, ByteCorpus.BLOCK, 2 * ByteCorpus.BLOCK))
        .isEqualTo(java.util.Arrays.copyOfRange(text, 4 * ByteCorpus.BLOCK, 5 * ByteCorpus.BLOCK));
  }

  @Test
  void nonIidShardsAreContiguousRegionsAndTheEvalSliceIsHeldOut() {
    byte[] last = corpus.shard(2, 3, true);
    int size = corpus.trainBytes() / 3;
    assertThat(last).isEqualTo(java.util.Arrays.copyOfRange(text, 2 * size, 3 * size));
    assertThat(corpus.evalSlice()).hasSize(text.length - corpus.trainBytes())
        .isEqualTo(java.util.Arrays.copyOfRange(text, corpus.trainBytes(), text.length));
  }

  @Test
  void windowsAreNextByteTargetsFromTheData() {
    int[][] w = ByteCorpus.windows(text, 2, 8, new SplittableRandom(1));
    assertThat(w).hasDimensions(2, 9);
    assertThat(new String(text, java.nio.charset.StandardCharsets.US_ASCII))
        .contains(new String(toBytes(w[0]), java.nio.charset.StandardCharsets.US_ASCII));
  }

  @Test
  void aStepsWindowsDependOnSeedWorkerRoundAndStepAlone() {
    int[][] w = windows(7, "w0", 3, 5);
    // The same step drawn again, in any order, by any process: the same windows.
    windows(7, "w0", 3, 4);
    assertThat(windows(7, "w0", 3, 5)).isEqualTo(w);
    // Any one of the four changed: other windows (names that String.hashCode confuses too).
    assertThat(windows(8, "w0", 3, 5)).isNotEqualTo(w);
    assertThat(windows(7, "w1", 3, 5)).isNotEqualTo(w);
    assertThat(windows(7, "w0", 4, 5)).isNotEqualTo(w);
    assertThat(windows(7, "w0", 3, 6)).isNotEqualTo(w);
    assertThat("Aa".hashCode()).isEqualTo("BB".hashCode());
    assertThat(ByteCorpus.stepRandom(7, "Aa", 0, 0).nextLong())
        .isNotEqualTo(ByteCorpus.stepRandom(7, "BB", 0, 0).nextLong());
    // Round 0 step 1 is not round 1 step 0.
    assertThat(ByteCorpus.stepRandom(7, "w0", 0, 1).nextLong())
        .isNotEqualTo(ByteCorpus.stepRandom(7, "w0", 1, 0).nextLong());
  }

  @Test
  void badDataOrShardsGetAClearError(@TempDir Path dir) throws Exception {
    assertThatThrownBy(() -> ByteCorpus.load(dir.resolve("missing.txt"), 0.1))
        .hasMessageContaining("missing.txt does not exist");
    // A FIFO nobody writes: read, it would never end.
    Path fifo = dir.resolve("fifo");
    Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
    assertThat(mkfifo.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(mkfifo.exitValue()).isZero();
    assertThatThrownBy(() -> ByteCorpus.load(fifo, 0.1))
        .hasMessageContaining("fifo is neither a regular file nor a directory");
    assertThatThrownBy(() -> corpus.shard(3, 3)).hasMessageContaining("shard 3 of 3");
    assertThatThrownBy(() -> ByteCorpus.of(text, 1.5, "x")).hasMessageContaining("got 1.5");
    assertThatThrownBy(() -> ByteCorpus.windows(new byte[4], 1, 8, new SplittableRandom(1)))
        .hasMessageContaining("fewer than a window of 9");
  }

  private int[][] windows(long seed, String worker, int round, int step) {
    return ByteCorpus.windows(text, 4, 8, ByteCorpus.stepRandom(seed, worker, round, step));
  }

  private static byte[] toBytes(int[] values) {
    byte[] b = new byte[values.length];
    for (int i = 0; i < values.length; i++) {
      b[i] = (byte) values[i];
    }
    return b;
  }
}
