package dev.diloco.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.core.testing.Forgeries;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.OptimizerStateChunk;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundFailure;
import dev.diloco.schemas.RoundStats;
import dev.diloco.schemas.SchemaHistory;
import dev.diloco.schemas.SumEncoding;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WeightsChunk;
import dev.diloco.schemas.WorkerHeartbeat;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;

/**
 * Every decoder of bytes from the outside, fed random, truncated and length-inflated bytes:
 * each either decodes or rejects with its typed exception, and none allocates more than the
 * bytes could hold (measured by the JVM's count of this thread's allocations). Avro alone
 * would allocate whatever length or count a record claims.
 */
class DecoderFuzzTest {

  /** Far above what decoding a record of a few KiB needs, far below what a lie would take. */
  private static final long ALLOCATION_BOUND = 8L * 1024 * 1024;

  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  /** One record of every type that crosses a topic, encoded. */
  private static final List<Sample<?>> SAMPLES = List.of(
      new Sample<>(TestRuns.description("fuzz", ParameterLayout.builder().add("w", 4, 4)
          .add("b", 4).build(), 8)),
      new Sample<>(chunk()),
      new Sample<>(ReducedChunk.newBuilder().setRunId("fuzz").setRound(1).setChunkIndex(0)
          .setChunkCount(2).setElementOffset(0).setElementCount(4)
          .setContributors(List.of(new Contribution("w0", 10L, 1, 2f),
              new Contribution("w1", 10L, 1, 2f)))
          .setSumEncoding(SumEncoding.PACKED_Q24).setSum(ByteBuffer.wrap(new byte[] {2, 5, 1}))
          .setCrc32c(7).setComplete(true).setEmittedAtMs(1).build()),
      new Sample<>(new WeightsChunk("fuzz", 1, 0, 2, 0L, 4, TensorEncoding.FP32,
          ByteBuffer.wrap(new byte[16]), 9)),
      new Sample<>(new OptimizerStateChunk("fuzz", 1, 0, 2, 0L, 4,
          ByteBuffer.wrap(new byte[16]), 9)),
      new Sample<>(RoundCommit.newBuilder(TestRuns.commit("fuzz", 2, new dev.diloco.core
          .layout.ChunkPlan(20, 8), 5L)).setContributors(List.of(
              new Contribution("w0", 10L, 1, 2f))).build()),
      new Sample<>(new WorkerHeartbeat("fuzz", "w0", HeartbeatKind.ALIVE, 3, 1L, "host", 2L,
          new RoundStats(2, 2.5f, 2.4f, 100.0, 1000L, 1.5, 0.5, 4000L), 7)),
      new Sample<>(DeadLetters.of("t", 0, 5L, new byte[] {1}, DeadLetterReason.LATE, "late",
          "test", 9L).setRunId("fuzz").setRound(1).build()),
      new Sample<>(new RoundFailure("fuzz", 1, "no quorum", List.of("w0"), 2, 3L)),
      new Sample<>(new dev.diloco.schemas.WorkerState("fuzz", "w0", 3, 1L, 9,
          ByteBuffer.wrap(new byte[4]), ByteBuffer.wrap(new byte[4]), null,
          ByteBuffer.wrap(new byte[4]), 2.5f, new dev.diloco.schemas.StateDigest(new byte[32]),
          4L, ByteBuffer.wrap(new byte[4]), 5L)));

  private record Sample<T extends SpecificRecord>(T record, AvroSerde<T> serde, byte[] bytes) {
    @SuppressWarnings("unchecked")
    Sample(T record) {
      this(record, AvroSerde.of((Class<T>) record.getClass()));
    }

    private Sample(T record, AvroSerde<T> serde) {
      this(record, serde, serde.encode(record));
    }

    /** Decodes {@code bytes} as this type; true when it decoded, false when it was rejected. */
    boolean decodes(byte[] bytes) {
      long before = THREADS.getThreadAllocatedBytes(Thread.currentThread().getId());
      boolean decoded;
      try {
        serde.decode(bytes);
        decoded = true;
      } catch (SerializationException rejected) {
        decoded = false;
      }
      long allocated = THREADS.getThreadAllocatedBytes(Thread.currentThread().getId()) - before;
      assertThat(allocated).as("bytes allocated decoding %d bytes as a %s", bytes.length,
          record.getClass().getSimpleName()).isLessThan(ALLOCATION_BOUND);
      return decoded;
    }
  }

  private static PseudoGradientChunk chunk() {
    return PseudoGradientChunk.newBuilder()
        .setRunId("fuzz").setRound(3).setWorkerId("w0").setChunkIndex(1).setChunkCount(2)
        .setElementOffset(8).setElementCount(8).setEncoding(TensorEncoding.FP16)
        .setCompression(Compression.NONE).setBytePlanes(false)
        .setPayload(ByteBuffer.wrap(new byte[16])).setCrc32c(0x1234).setInnerSteps(5)
        .setTokens(640).setMeanInnerLoss(2.5f).setCreatedAtMs(1L)
        .build();
  }

  @Provide
  Arbitrary<Sample<?>> samples() {
    return Arbitraries.of(SAMPLES);
  }

  @Test
  void everyTopicRecordTypeIsSampled() {
    assertThat(SAMPLES).extracting(s -> s.record().getSchema().getName())
        .containsExactlyInAnyOrderElementsOf(SchemaHistory.RECORDS.keySet());
    SAMPLES.forEach(s -> assertThat(s.decodes(s.bytes())).as("%s decodes", s.record()).isTrue());
  }

  @Property(tries = 300)
  void randomBytesAreRejectedOrDecodeWithinBounds(@ForAll("samples") Sample<?> sample,
      @ForAll @Size(max = 200) byte[] body, @ForAll boolean withHeader) {
    // With the sample's own header, the bytes reach the datum reader, not just the marker check.
    byte[] bytes = withHeader ? concat(Arrays.copyOf(sample.bytes(), 10), body) : body;
    sample.decodes(bytes);
  }

  @Property(tries = 300)
  void aTruncatedRecordIsRejected(@ForAll("samples") Sample<?> sample,
      @ForAll @IntRange(min = 0, max = 10_000) int cut) {
    int length = cut % sample.bytes().length;
    assertThat(sample.decodes(Arrays.copyOf(sample.bytes(), length))).isFalse();
  }

  /** Any field may be a length or a count: a huge varint written anywhere claims one. */
  @Property(tries = 500)
  void aLengthOrCountInflatedAnywhereIsRejectedWithoutAllocatingIt(
      @ForAll("samples") Sample<?> sample, @ForAll @IntRange(min = 10, max = 10_000) int at,
      @ForAll boolean insert) {
    byte[] huge = {(byte) 0xF2, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x0F}; // 2^31 - 7, zigzag
    byte[] bytes = sample.bytes();
    int position = 10 + (at - 10) % (bytes.length - 10);
    byte[] inflated;
    if (insert) {
      inflated = concat(concat(Arrays.copyOf(bytes, position), huge),
          Arrays.copyOfRange(bytes, position, bytes.length));
    } else {
      inflated = bytes.clone();
      System.arraycopy(huge, 0, inflated, position, Math.min(huge.length,
          inflated.length - position));
    }
    sample.decodes(inflated);
  }

  /** The reported attacks: 34, 61 and 22 bytes that claim 2^31 - 9 bytes or items. */
  @Test
  void theReportedPoisonPillsAreMalformedRecords() {
    Sample<?> chunk = SAMPLES.get(1);
    byte[] payloadClaim = Forgeries.chunkClaimingAHugePayload("fuzz");
    assertThat(payloadClaim).hasSizeLessThan(40);
    assertThatThrownBy(() -> chunk.serde().decode(payloadClaim))
        .isInstanceOf(SerializationException.class)
        .hasMessageContaining("claims bytes of 2147483639");

    Sample<?> commit = SAMPLES.get(5);
    byte[] contributorsClaim = Forgeries.commitClaimingHugeContributors("fuzz");
    assertThatThrownBy(() -> commit.serde().decode(contributorsClaim))
        .isInstanceOf(SerializationException.class)
        .hasMessageContaining("claims an array block of items of 2147483639");
    assertThat(commit.decodes(contributorsClaim)).isFalse();

    Sample<?> heartbeat = SAMPLES.get(6);
    assertThat(heartbeat.decodes(Forgeries.heartbeatClaimingAHugeName("fuzz"))).isFalse();
  }

  /** Random payloads of any format: a chunk checked or rejected, never another exception. */
  @Property(tries = 300)
  void aChunkPayloadIsDecodedOrRejectedWithAReason(@ForAll @Size(max = 300) byte[] payload,
      @ForAll @IntRange(min = -2, max = 80) int count, @ForAll("formats") PayloadFormat format,
      @ForAll int crc) {
    try (ChunkDecoder decoder = new ChunkDecoder(64)) {
      decoder.canonical(ByteBuffer.wrap(payload), format, count, crc);
    } catch (ChunkRejectedException rejected) {
      assertThat(rejected.reason()).isNotNull();
    }
  }

  @Provide
  Arbitrary<PayloadFormat> formats() {
    return Arbitraries.of(TensorEncoding.FP16, TensorEncoding.FP32, TensorEncoding.BF16,
            TensorEncoding.INT8, TensorEncoding.INT4)
        .flatMap(enc -> Arbitraries.of(Compression.NONE, Compression.ZSTD)
            .flatMap(c -> Arbitraries.of(true, false)
                .filter(p -> !p || enc.name().startsWith("FP") || enc.name().startsWith("BF"))
                .map(p -> PayloadFormat.of(enc, 64, c, p))));
  }

  /** Random sums of any encoding: decoded or rejected with a reason, never another exception. */
  @Property(tries = 300)
  void aSumIsDecodedOrRejectedWithAReason(@ForAll @Size(max = 300) byte[] sum,
      @ForAll @IntRange(min = 1, max = 64) int count, @ForAll SumEncoding encoding) {
    try {
      ExactSum.decode(encoding, ByteBuffer.wrap(sum), count, new double[count], 0);
    } catch (ChunkRejectedException rejected) {
      assertThat(rejected.reason()).isNotNull();
    }
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] c = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }
}
