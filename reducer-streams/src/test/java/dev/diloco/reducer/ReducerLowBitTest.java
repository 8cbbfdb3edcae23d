package dev.diloco.reducer;

import static dev.diloco.reducer.ReducerDriver.PLAN;
import static dev.diloco.reducer.ReducerDriver.WORKERS;
import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.codec.BlockCodec;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.SumEncoding;
import dev.diloco.schemas.TensorEncoding;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An INT4 run (blocks of 8, the driver's chunk size): the reducer sums the workers' codes
 * exactly, and a chunk whose scale or codes are out of range, or whose payload does not fit its
 * elements and block size, is dead-lettered with its reason while the round's sums complete.
 */
class ReducerLowBitTest {

  private static final BlockCodec INT4 = new BlockCodec(TensorEncoding.INT4, 8);
  private static final PayloadFormat FORMAT = new PayloadFormat(INT4, Compression.NONE, false);

  @TempDir
  Path stateDir;

  private ReducerDriver reducer;

  @BeforeEach
  void start() {
    ModelDescription int4 = ModelDescription.newBuilder(ReducerDriver.description())
        .setEncoding(TensorEncoding.INT4).setBlockSize(8).setErrorFeedback(true).build();
    reducer = new ReducerDriver(stateDir, 0, int4);
  }

  @AfterEach
  void stop() {
    reducer.close();
  }

  @Test
  void badCodesAreDeadLetteredWithTheirReasonAndEverySumIsTheExactSumOfTheGoodOnes() {
    PseudoGradientChunk good = chunk("w0", 1);
    byte[] codes = payload(good);
    byte[] scaleTooCoarse = codes.clone();
    scaleTooCoarse[0] = 3; // 2^3: beyond INT4's 2^0
    byte[] minusEight = codes.clone();
    minusEight[1] = (byte) ((minusEight[1] & 0xf0) | 0x8);
    reducer.send(withPayload(good, scaleTooCoarse));
    reducer.send(withPayload(good, minusEight));
    reducer.send(withPayload(good, java.util.Arrays.copyOf(codes, codes.length - 1)));
    List<DeadLetter> letters = reducer.letters();
    assertThat(letters).extracting(DeadLetter::getReason).containsExactly(
        DeadLetterReason.SCALE_OUT_OF_RANGE, DeadLetterReason.CODE_OUT_OF_RANGE,
        DeadLetterReason.WRONG_LENGTH);
    assertThat(letters.get(0).getDetail()).contains("block 0 has scale 2^3");
    assertThat(letters.get(1).getDetail()).contains("element 0 has code -8");
    assertThat(letters.get(2).getDetail())
        .endsWith("the payload has 4 bytes; 8 INT4 (blocks of 8) elements take 5");

    List<PseudoGradientChunk> all = new ArrayList<>();
    for (String w : WORKERS) {
      for (int i = 0; i < PLAN.chunkCount(); i++) {
        all.add(chunk(w, i));
      }
    }
    List<ReducedChunk> sums = reducer.reduce(all);
    assertThat(sums).hasSize(PLAN.chunkCount());
    for (ReducedChunk sum : sums) {
      assertThat(sum.getComplete()).isTrue();
      assertThat(sum.getSumEncoding()).isEqualTo(SumEncoding.PACKED_BLOCKS);
      int n = sum.getElementCount();
      double[] got = new double[n];
      ExactSum.decode(sum.getSumEncoding(), sum.getSum(), n, got, 0);
      double[] expected = new double[n];
      for (String w : WORKERS) { // each worker's decoded values, added: exact in a double
        float[] sent = new float[n];
        INT4.decode(payload(chunk(w, sum.getChunkIndex())), 0, n, sent, 0);
        for (int i = 0; i < n; i++) {
          expected[i] += sent[i];
        }
      }
      assertThat(got).as("chunk %d", sum.getChunkIndex()).containsExactly(expected);
    }
  }

  private static PseudoGradientChunk chunk(String worker, int index) {
    return ReducerDriver.chunk(worker, 0, index, ReducerDriver.delta(worker, 0, 5), FORMAT);
  }

  private static byte[] payload(PseudoGradientChunk c) {
    ByteBuffer p = c.getPayload().duplicate();
    byte[] bytes = new byte[p.remaining()];
    p.get(bytes);
    return bytes;
  }

  /** {@code c} with {@code payload} and the CRC32C that matches it: only the codec can object. */
  private static PseudoGradientChunk withPayload(PseudoGradientChunk c, byte[] payload) {
    return PseudoGradientChunk.newBuilder(c).setPayload(ByteBuffer.wrap(payload))
        .setCrc32c(Checksums.crc32c(payload, 0, payload.length)).build();
  }
}
