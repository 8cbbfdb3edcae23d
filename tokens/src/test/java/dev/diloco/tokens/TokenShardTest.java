package dev.diloco.tokens;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenShardTest {

  @TempDir
  Path dir;

  private Path written(String name, int vocab, int... tokens) {
    Path file = dir.resolve(name);
    try (TokenShardWriter w = new TokenShardWriter(file, vocab)) {
      for (int t : tokens) {
        w.write(t);
      }
    }
    return file;
  }

  @Test
  void tokensComeBackAsWrittenInUint16OrUint32AsTheVocabularyNeeds() throws IOException {
    TokenShard small = TokenShard.open(written("a.bin", 65_536, 0, 65_535, 7), 65_536);
    assertThat(small.width()).isEqualTo(2);
    assertThat(new int[] {small.token(0), small.token(1), small.token(2)})
        .containsExactly(0, 65_535, 7);
    TokenShard large = TokenShard.open(written("b.bin", 128_256, 128_255, 3), 128_256);
    assertThat(large.width()).isEqualTo(4);
    assertThat(large.token(0)).isEqualTo(128_255);
    ByteBuffer header = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("b.bin")))
        .order(ByteOrder.LITTLE_ENDIAN);
    assertThat(new int[] {header.getInt(0), header.getInt(4), header.getInt(8)})
        .containsExactly(20240801, 1, 2);
    assertThat(Files.size(dir.resolve("b.bin"))).isEqualTo(1024 + 8);
  }

  @Test
  void aHeaderlessFileIsUint16TokensAlone() throws IOException {
    Path file = dir.resolve("nanogpt.bin");
    Files.write(file, new byte[] {1, 0, (byte) 0xff, 0});
    TokenShard shard = TokenShard.headerless(file, 256);
    assertThat(shard.size()).isEqualTo(2);
    assertThat(shard.token(1)).isEqualTo(255);
    assertThatThrownBy(() -> TokenShard.headerless(file, 255))
        .hasMessage("token file " + file + ": token 1 is 255, not below the vocabulary's 255");
    Files.write(file, new byte[] {1, 0, 2});
    assertThatThrownBy(() -> TokenShard.headerless(file, 256)).hasMessage("token file " + file
        + ": it has 3 bytes, not a whole number of uint16 tokens");
  }

  @Test
  void everyBadFileIsRefusedNamingWhatIsWrong() throws IOException {
    Path good = written("good.bin", 100, 1, 2, 3);
    byte[] bytes = Files.readAllBytes(good);
    Path bad = dir.resolve("bad.bin");
    bytes[0] = 9;
    Files.write(bad, bytes);
    assertThatThrownBy(() -> TokenShard.open(bad, 100)).hasMessageStartingWith("token file "
        + bad + ": its magic number is 20240393, not 20240520 (uint16 tokens) or 20240801");
    Files.write(bad, java.util.Arrays.copyOf(Files.readAllBytes(good), 1024 + 4));
    assertThatThrownBy(() -> TokenShard.open(bad, 100)).hasMessage("token file " + bad
        + ": its header says 3 tokens of 2 bytes, 1030 bytes in all, but it has 1028 "
        + "(truncated)");
    Files.write(bad, new byte[100]);
    assertThatThrownBy(() -> TokenShard.open(bad, 100)).hasMessage("token file " + bad
        + ": it has 100 bytes, fewer than the 1024 of the header");
    assertThatThrownBy(() -> TokenShard.open(good, 3)).hasMessage("token file " + good
        + ": token 2 is 3, not below the vocabulary's 3");
    Path empty = written("empty.bin", 100);
    assertThatThrownBy(() -> TokenShard.open(empty, 100)).hasMessage("token file " + empty
        + ": it holds no token");
    assertThatThrownBy(() -> TokenShard.open(dir.resolve("none.bin"), 100))
        .hasMessage("token file " + dir.resolve("none.bin") + ": it does not exist");
  }
}
