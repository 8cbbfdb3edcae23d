package dev.diloco.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.schemas.Compression;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.SchemaHistory;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WorkerHeartbeat;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;

class AvroSerdeTest {

  private final AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);

  static PseudoGradientChunk chunk() {
    return PseudoGradientChunk.newBuilder()
        .setRunId("run-1").setRound(3).setWorkerId("w-0").setChunkIndex(1).setChunkCount(4)
        .setElementOffset(8).setElementCount(8).setEncoding(TensorEncoding.FP16)
        .setCompression(Compression.NONE).setBytePlanes(false)
        .setPayload(ByteBuffer.wrap(new byte[16])).setCrc32c(0x1234).setInnerSteps(50)
        .setTokens(6400).setMeanInnerLoss(2.5f).setCreatedAtMs(1L)
        .build();
  }

  /** A worker's own topic carries chunks and heartbeats: the header tells them apart. */
  @Test
  void theHeaderTellsWhichTypeWroteARecordByAnyOfItsVersions() {
    byte[] chunk = serde.encode(chunk());
    AvroSerde<WorkerHeartbeat> heartbeats = AvroSerde.of(WorkerHeartbeat.class);
    byte[] heartbeat = heartbeats.encode(new WorkerHeartbeat("run-1", "w-0", HeartbeatKind.JOIN,
        0, 1L, "h", 0L, null, null));
    assertThat(serde.isWrittenAs(chunk)).isTrue();
    assertThat(serde.isWrittenAs(heartbeat)).isFalse();
    assertThat(heartbeats.isWrittenAs(heartbeat)).isTrue();
    assertThat(heartbeats.isWrittenAs(chunk)).isFalse();
    for (byte[] other : new byte[][] {null, {}, {(byte) 0xC3, 0x01, 1}, {9, 9, 9, 9, 9, 9, 9, 9,
        9, 9, 9}}) {
      assertThat(heartbeats.isWrittenAs(other)).isFalse();
    }
    // The header of a record written by the first released DeadLetter schema.
    ByteBuffer v1 = ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN)
        .put((byte) 0xC3).put((byte) 0x01).putLong(SchemaNormalization.parsingFingerprint64(
            SchemaHistory.versions("DeadLetter").get(0)));
    assertThat(AvroSerde.of(DeadLetter.class).isWrittenAs(v1.array())).isTrue();
    assertThat(AvroSerde.of(DeadLetter.class).isWrittenAs(serde.encode(chunk()))).isFalse();
  }

  @Test
  void aRecordRoundTripsThroughTheKafkaSerde() {
    byte[] bytes = serde.serializer().serialize("t", chunk());
    assertThat(serde.deserializer().deserialize("t", bytes)).isEqualTo(chunk());
    assertThat(serde.serializer().serialize("t", null)).isNull();
    assertThat(serde.deserializer().deserialize("t", null)).isNull();
  }

  @Test
  void aRecordWrittenWithAReleasedSchemaVersionIsRead() throws Exception {
    Schema v1 = SchemaHistory.versions("PseudoGradientChunk").get(0);
    GenericRecord written = new GenericData.Record(v1);
    PseudoGradientChunk c = chunk();
    for (Schema.Field f : v1.getFields()) {
      Object value = c.get(f.name());
      if (value instanceof Enum<?> e) {
        value = new GenericData.EnumSymbol(f.schema(), e.name());
      }
      written.put(f.name(), value);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(written, out);
    assertThat(serde.decode(out.toByteArray())).isEqualTo(c);
  }

  @Test
  void bytesThatAreNotARecordOfThisTypeAreASerializationErrorThatSaysSo() {
    assertThatThrownBy(() -> serde.decode(new byte[] {1, 2, 3}))
        .isInstanceOf(SerializationException.class)
        .hasMessageContaining("cannot decode a PseudoGradientChunk from 3 bytes");
    // A valid record of another type carries another schema fingerprint.
    byte[] other = AvroSerde.of(DeadLetter.class).encode(DeadLetter.newBuilder()
        .setOriginalTopic("t").setOriginalPartition(0).setOriginalOffset(0)
        .setReason(DeadLetterReason.CRC_MISMATCH).setDetail("d").setRejectedBy("test")
        .setRejectedAtMs(0).build());
    assertThatThrownBy(() -> serde.decode(other))
        .isInstanceOf(SerializationException.class)
        .hasMessageContaining("PseudoGradientChunk");
    // A record cut short.
    byte[] whole = serde.encode(chunk());
    byte[] cut = java.util.Arrays.copyOf(whole, whole.length - 5);
    assertThatThrownBy(() -> serde.decode(cut)).isInstanceOf(SerializationException.class);
  }

  @Test
  void aRecordMissingARequiredFieldIsRefusedOnEncode() {
    PseudoGradientChunk bad = chunk();
    bad.put("workerId", null);
    assertThatThrownBy(() -> serde.encode(bad))
        .isInstanceOf(SerializationException.class)
        .hasMessageContaining("cannot encode this PseudoGradientChunk");
  }
}
