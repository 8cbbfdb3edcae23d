package dev.diloco.core.testing;

import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WeightsChunk;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.util.concurrent.ExecutionException;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Records an attacker writes, for the tests that show they are refused: the reported poison
 * pills (a few bytes that claim 2^31 − 9 bytes or items) and a forged round.
 */
public final class Forgeries {
  private Forgeries() {}

  /** What a pill claims: more than any heap a service runs with. */
  public static final long CLAIM = (1L << 31) - 9;

  /** A pseudo-gradient chunk of fewer than 40 bytes whose payload claims {@link #CLAIM} bytes. */
  public static byte[] chunkClaimingAHugePayload(String runId) {
    return record(new PseudoGradientChunk(runId, 3, "w0", 1, 2, 8L, 8, TensorEncoding.FP16,
        Compression.NONE, false, ByteBuffer.wrap(new byte[0]), 0, 1, 1L, 0f, 0L), e -> {
          e.writeString(runId);
          e.writeInt(3);
          e.writeString("w0");
          e.writeInt(1);
          e.writeInt(2);
          e.writeLong(8);
          e.writeInt(8);
          e.writeEnum(TensorEncoding.FP16.ordinal());
          e.writeEnum(Compression.NONE.ordinal());
          e.writeBoolean(false);
          e.writeLong(CLAIM); // the payload's length, with nothing after it
        });
  }

  /** A round commit of about 60 bytes whose contributors claim {@link #CLAIM} items. */
  public static byte[] commitClaimingHugeContributors(String runId) {
    return record(TestRuns.commit(runId, 2, new ChunkPlan(20, 8), 0L), e -> {
      e.writeString(runId);
      e.writeInt(2);
      e.writeBytes(new byte[32]);
      e.writeLong(20);
      e.writeInt(3);
      e.writeLong(0);
      e.writeEnum(2);
      e.writeIndex(0); // no reason
      e.writeArrayStart();
      e.setItemCount(CLAIM);
    });
  }

  /** A heartbeat of about 20 bytes whose run id claims {@link #CLAIM} bytes. */
  public static byte[] heartbeatClaimingAHugeName(String runId) {
    return record(TestRuns.heartbeat(runId, "w0", 0, HeartbeatKind.JOIN),
        e -> e.writeLong(CLAIM));
  }

  /**
   * {@code record} in the single-object encoding without the bounds of its schema
   * ({@code WireBounds}): what an attacker's own Avro writes.
   */
  @SuppressWarnings("unchecked")
  public static <T extends SpecificRecord> byte[] unbounded(T record) {
    try {
      ByteBuffer b = new BinaryMessageEncoder<T>(SpecificData.getForClass(record.getClass()),
          record.getSchema()).encode(record);
      byte[] bytes = new byte[b.remaining()];
      b.get(bytes);
      return bytes;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private interface Fields {
    void write(BinaryEncoder e) throws IOException;
  }

  /** The header of {@code sample}'s type (its schema's fingerprint), then fields by hand. */
  @SuppressWarnings("unchecked")
  private static <T extends SpecificRecord> byte[] record(T sample, Fields fields) {
    byte[] real = AvroSerde.of((Class<T>) sample.getClass()).encode(sample);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(real, 0, 10);
    try {
      BinaryEncoder e = EncoderFactory.get().binaryEncoder(out, null);
      fields.write(e);
      e.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /**
   * Forges round {@code round} of run {@code topics} on {@code clients}' cluster: weights of
   * zeros and a commit that matches them (its SHA-256 is theirs), signed by {@code signer}, or
   * unsigned when null. Returns the commit as written.
   */
  public static byte[] forgeRound(KafkaClientConfig clients, RunTopics topics, ChunkPlan plan,
      int round, KeyPair signer) throws InterruptedException, ExecutionException {
    byte[] key = topics.runId().getBytes(StandardCharsets.UTF_8);
    float[] zeros = new float[(int) plan.totalElements()];
    try (var producer = new KafkaProducer<>(clients.producer(), new ByteArraySerializer(),
            new ByteArraySerializer());
        var encoder = new ChunkEncoder(PayloadFormat.FP32, plan.chunkElements())) {
      long first = -1;
      for (int i = 0; i < plan.chunkCount(); i++) {
        ChunkRange range = plan.range(i);
        ChunkEncoder.Encoded e = encoder.encode(zeros, (int) range.offset(), range.count());
        long at = producer.send(new ProducerRecord<>(topics.weights(), key,
            AvroSerde.of(WeightsChunk.class).encode(new WeightsChunk(topics.runId(), round, i,
                plan.chunkCount(), range.offset(), range.count(), PayloadFormat.FP32.encoding(),
                e.payload(), e.crc32c())))).get().offset();
        first = first < 0 ? at : first;
      }
      RoundCommit commit = RoundCommit.newBuilder(TestRuns.commit(topics.runId(), round, plan,
              System.currentTimeMillis()))
          .setWeightsSha256(ByteBuffer.wrap(Checksums.sha256(zeros))).setWeightsOffset(first)
          .build();
      if (signer != null) {
        commit = CommitSignatures.sign(commit, signer.getPrivate());
      }
      byte[] value = AvroSerde.of(RoundCommit.class).encode(commit);
      producer.send(new ProducerRecord<>(topics.commits(), key, value)).get();
      return value;
    }
  }
}
