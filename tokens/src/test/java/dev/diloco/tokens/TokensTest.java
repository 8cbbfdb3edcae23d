package dev.diloco.tokens;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokensTest {

  @TempDir
  Path dir;

  private static List<Integer> all(Tokens t) {
    List<Integer> out = new ArrayList<>();
    for (long i = 0; i < t.size(); i++) {
      out.add(t.get(i));
    }
    return out;
  }

  @Test
  void shardsReadEndToEndInOrder() {
    List<TokenShard> shards = new ArrayList<>();
    int next = 0;
    for (int n : new int[] {3, 1, 4}) {
      Path file = dir.resolve("s" + shards.size() + ".bin");
      try (TokenShardWriter w = new TokenShardWriter(file, 100)) {
        for (int i = 0; i < n; i++) {
          w.write(next++);
        }
      }
      shards.add(TokenShard.open(file, 100));
    }
    assertThat(all(Tokens.of(shards))).containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
    assertThat(all(Tokens.of(shards).slice(2, 5))).containsExactly(2, 3, 4);
  }

  /** Every token goes to exactly one worker, in blocks dealt round-robin, or in regions. */
  @Test
  void workersTakeDisjointPartsThatTogetherAreTheWhole() {
    byte[] bytes = new byte[23];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) i;
    }
    Tokens t = Tokens.of(bytes);
    assertThat(all(t.part(0, 3, 4, false))).containsExactly(0, 1, 2, 3, 12, 13, 14, 15);
    assertThat(all(t.part(1, 3, 4, false))).containsExactly(4, 5, 6, 7, 16, 17, 18, 19);
    assertThat(all(t.part(2, 3, 4, false))).containsExactly(8, 9, 10, 11, 20, 21, 22);
    assertThat(all(t.part(1, 3, 4, true))).containsExactly(7, 8, 9, 10, 11, 12, 13);
    assertThatThrownBy(() -> t.part(3, 3, 4, false)).hasMessage("shard 3 of 3 does not exist");
    assertThatThrownBy(() -> t.slice(5, 24)).hasMessage("no slice [5, 24) of 23 tokens");
  }
}
