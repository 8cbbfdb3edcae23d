package dev.diloco.reducer;

import static dev.diloco.reducer.ReducerDriver.CHUNK;
import static dev.diloco.reducer.ReducerDriver.PLAN;
import static dev.diloco.reducer.ReducerDriver.TOPICS;
import static dev.diloco.reducer.ReducerDriver.WORKERS;
import static dev.diloco.reducer.ReducerDriver.chunk;
import static dev.diloco.reducer.ReducerDriver.chunksOf;
import static dev.diloco.reducer.ReducerDriver.delta;
import static dev.diloco.reducer.ReducerDriver.nanDelta;
import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.codec.Fp16;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.TensorEncoding;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the reducer does with each chunk: sum it exactly, or reject it with its reason. */
class ReducerTopologyTest {

  @TempDir
  Path stateDir;

  private ReducerDriver reducer;

  @BeforeEach
  void start() {
    reducer = new ReducerDriver(stateDir, 0);
  }

  @AfterEach
  void stop() {
    reducer.close();
  }

  @Test
  void sumsEqualAnIndependentReferenceAndTheSameBitsInAnyArrivalOrder() {
    List<PseudoGradientChunk> all = new ArrayList<>();
    for (String w : WORKERS) {
      all.addAll(chunksOf(w, 0, 42));
    }
    List<ReducedChunk> first = reducer.reduce(all);
    assertThat(first).hasSize(PLAN.chunkCount());

    for (ReducedChunk r : first) {
      assertThat(r.getComplete()).isTrue();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
          .containsExactlyElementsOf(WORKERS);
      double[] got = new double[r.getElementCount()];
      ExactSum.decode(r.getSumEncoding(), r.getSum(), r.getElementCount(), got, 0);
      ChunkRange range = PLAN.range(r.getChunkIndex());
      for (int i = 0; i < range.count(); i++) {
        double expected = 0; // a few FP16 values add exactly in a double
        for (String w : WORKERS) {
          expected += Fp16.toFloat(Fp16.fromFloat(delta(w, 0, 42)[(int) range.offset() + i]));
        }
        assertThat(got[i]).isEqualTo(expected);
      }
    }

    // A fresh run of the same contributions in another order: the same bits.
    for (long seed = 1; seed <= 3; seed++) {
      reducer.close();
      reducer = new ReducerDriver(stateDir, 0);
      List<PseudoGradientChunk> shuffled = new ArrayList<>(all);
      Collections.shuffle(shuffled, new Random(seed));
      List<ReducedChunk> again = reducer.reduce(shuffled);
      again.sort((a, b) -> Integer.compare(a.getChunkIndex(), b.getChunkIndex()));
      first.sort((a, b) -> Integer.compare(a.getChunkIndex(), b.getChunkIndex()));
      for (int i = 0; i < first.size(); i++) {
        assertThat(again.get(i).getSum()).isEqualTo(first.get(i).getSum());
        assertThat(again.get(i).getCrc32c()).isEqualTo(first.get(i).getCrc32c());
      }
    }
    assertThat(reducer.deadLetters.isEmpty()).isTrue();
  }

  @Test
  void aDuplicateCountsOnceAndGoesToTheDeadLetterTopic() {
    PseudoGradientChunk once = chunksOf("w0", 0, 1).get(0);
    reducer.send(once);
    reducer.send(once);
    assertThat(reducer.letters()).extracting(DeadLetter::getReason)
        .containsExactly(DeadLetterReason.DUPLICATE);
    reducer.send(chunksOf("w1", 0, 1).get(0));
    reducer.send(chunksOf("w2", 0, 1).get(0));
    ReducedChunk r = AvroSerde.of(ReducedChunk.class).decode(reducer.reduced.readValue());
    assertThat(r.getContributors()).hasSize(3);
  }

  /** On a worker's own topic (only its principal may write it), a chunk must be its own. */
  @Test
  void aChunkOnAWorkersOwnTopicThatNamesAnotherWorkerIsRejected() {
    reducer.sendOnTopicOf("w1", chunksOf("w0", 0, 1).get(0)); // names w0
    DeadLetter letter = reducer.letters().get(0);
    assertThat(letter.getReason()).isEqualTo(DeadLetterReason.PRINCIPAL_MISMATCH);
    assertThat(letter.getDetail()).contains("the chunk names worker w0 but came on "
        + TOPICS.workerPseudoGradients("w1") + ", which only worker w1's principal may write");

    // Each worker's own chunk on its own topic is summed like one on the shared topic.
    reducer.sendOnTopicOf("w1", chunksOf("w1", 0, 1).get(0));
    reducer.send(chunksOf("w0", 0, 1).get(0));
    reducer.send(chunksOf("w2", 0, 1).get(0));
    ReducedChunk r = AvroSerde.of(ReducedChunk.class).decode(reducer.reduced.readValue());
    assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
        .containsExactly("w0", "w1", "w2");
  }

  @Test
  void everyKindOfBadChunkIsRejectedWithItsReasonAndTheRoundGoesOn() {
    PseudoGradientChunk good = chunksOf("w0", 0, 7).get(1);
    reducer.sendWith(good, c -> c.put("crc32c", c.getCrc32c() ^ 1));
    reducer.sendWith(good, c -> c.put("elementCount", 7));
    reducer.sendWith(good, c -> c.put("encoding", TensorEncoding.UNKNOWN));
    reducer.sendWith(good, c -> c.put("chunkIndex", 9));
    reducer.sendWith(good, c -> c.put("round", 3));
    reducer.sendWith(good, c -> c.put("workerId", "stranger"));
    reducer.sendWith(good, c -> c.put("runId", "other"));
    reducer.sendWith(good, c -> c.put("payload", ByteBuffer.wrap(new byte[10])));
    reducer.sendWith(good, c -> c.put("encoding", TensorEncoding.FP32));
    reducer.chunks.pipeInput(new byte[] {0, 0, 0, 1}, new byte[] {9, 9, 9});
    PseudoGradientChunk nan = chunk("w0", 0, 1, nanDelta(), PayloadFormat.FP16);
    reducer.send(nan);

    assertThat(reducer.letters()).extracting(DeadLetter::getReason).containsExactly(
        DeadLetterReason.CRC_MISMATCH, DeadLetterReason.WRONG_LENGTH,
        DeadLetterReason.UNKNOWN_ENCODING, DeadLetterReason.INDEX_OUT_OF_RANGE,
        DeadLetterReason.ROUND_NOT_OPEN, DeadLetterReason.RUN_MISMATCH,
        DeadLetterReason.WRONG_LENGTH, DeadLetterReason.LAYOUT_MISMATCH,
        DeadLetterReason.MALFORMED_RECORD,
        DeadLetterReason.NON_FINITE);
    assertThat(reducer.reduced.isEmpty()).isTrue();
    // Nothing bad entered a sum; the stranger's good chunk waits for it to join the round.
    assertThat(reducer.pointerCount()).isOne();
    assertThat(reducer.metrics.get("diloco.reducer.dead.letters").tag("reason", "WRONG_LENGTH")
        .counter().count()).isEqualTo(2.0);

    for (String w : WORKERS) {
      reducer.send(chunksOf(w, 0, 7).get(1));
    }
    assertThat(reducer.reduced.getQueueSize()).isEqualTo(1);
  }

  @Test
  void aChunkAboveTheNormBoundIsRejectedAndOneBelowItSummed() {
    reducer.close();
    reducer = new ReducerDriver(stateDir, 0.1); // the test's chunks have norms of about 0.03
    PseudoGradientChunk ok = chunksOf("w0", 0, 11).get(0);
    float[] big = delta("w1", 0, 11);
    for (int i = 0; i < CHUNK; i++) {
      big[i] *= 100;
    }
    reducer.send(ok);
    reducer.send(chunk("w1", 0, 0, big, PayloadFormat.FP16));
    assertThat(reducer.letters()).singleElement().satisfies(l -> {
      assertThat(l.getReason()).isEqualTo(DeadLetterReason.NORM_BOUND_EXCEEDED);
      assertThat(l.getDetail()).contains("above the bound 0.1");
      assertThat(l.getWorkerId()).isEqualTo("w1");
    });
    assertThat(reducer.pointerCount()).isEqualTo(1);
  }

  @Test
  void aChunkOfAClosedRoundIsLate() {
    for (String w : WORKERS) {
      reducer.send(chunksOf(w, 0, 5).get(0));
    }
    assertThat(reducer.reduced.getQueueSize()).isEqualTo(1);
    reducer.send(chunksOf("w0", 0, 6).get(0)); // its sum was emitted already
    reducer.commit(1);
    reducer.send(chunksOf("w0", 0, 6).get(2)); // the open round is 1 now
    assertThat(reducer.letters()).extracting(DeadLetter::getReason)
        .containsExactly(DeadLetterReason.LATE, DeadLetterReason.LATE);
  }

  @Test
  void theSharedMembershipTopicKeepsNoFarRoundAndNoMoreMembersThanACommitNames() {
    reducer.join("w0", Integer.MAX_VALUE);
    reducer.join("ghost", 3); // the open round is 0: 3 is past the next two
    reducer.join("early", 2);
    assertThat(reducer.sharedMembers(Integer.MAX_VALUE)).isZero();
    assertThat(reducer.sharedMembers(3)).isZero();
    assertThat(reducer.sharedMembers(2)).isOne();
    int max = RunView.MemberUpdater.MAX_MEMBERS;
    assertThat(max).isEqualTo(10_000);
    for (int i = 0; i < max + 100; i++) {
      reducer.join("ghost-" + i, 1);
    }
    assertThat(reducer.sharedMembers(1)).isEqualTo(max);
    reducer.leave("ghost-0", 1);
    reducer.join("w0", 1); // a place freed by a leave is taken again
    assertThat(reducer.sharedMembers(1)).isEqualTo(max);
    // The open round is untouched: its members' sums complete.
    for (String w : WORKERS) {
      chunksOf(w, 0, 9).forEach(reducer::send);
    }
    assertThat(reducer.readReduced()).hasSize(PLAN.chunkCount());
  }

  @Test
  void stateIsEmptyOnceARoundIsOver() {
    for (String w : WORKERS) {
      chunksOf(w, 0, 9).forEach(reducer::send);
    }
    assertThat(reducer.pointerCount()).isZero();
    assertThat(reducer.closedCount()).isEqualTo(PLAN.chunkCount()); // until the round is over
    assertThat(reducer.metrics.get("diloco.reducer.sums.emitted").counter().count())
        .isEqualTo(PLAN.chunkCount());
    assertThat(reducer.metrics.get("diloco.reducer.chunks.summed").counter().count())
        .isEqualTo(3.0 * PLAN.chunkCount());
    assertThat(reducer.metrics.get("diloco.reducer.open.round").gauge().value()).isEqualTo(0);
    assertThat(reducer.metrics.get("diloco.reducer.open.round.contributors").gauge().value())
        .isEqualTo(WORKERS.size());
    reducer.commit(1);
    reducer.advance(Duration.ofSeconds(2));
    assertThat(reducer.closedCount()).isZero();
  }
}
