package dev.diloco.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.junit.jupiter.api.Test;

class SchemaHistoryTest {

  @Test
  void everyTopicRecordHasAReleasedVersionEqualToTheCurrentSchema() {
    for (Map.Entry<String, Schema> e : SchemaHistory.RECORDS.entrySet()) {
      List<Schema> versions = SchemaHistory.versions(e.getKey());
      assertThat(versions)
          .as("history/%s.v1.avsc must exist: every record type is released", e.getKey())
          .isNotEmpty();
      Schema latest = versions.get(versions.size() - 1);
      assertThat(SchemaNormalization.toParsingForm(e.getValue()))
          .as("%s changed since its last released version v%d: if the change is intended, add it "
              + "as history/%s.v%d.avsc (this test then checks it against every earlier version)",
              e.getKey(), versions.size(), e.getKey(), versions.size() + 1)
          .isEqualTo(SchemaNormalization.toParsingForm(latest));
    }
  }

  @Test
  void everyVersionReadsAndIsReadByEveryOtherVersion() {
    for (String name : SchemaHistory.RECORDS.keySet()) {
      List<Schema> versions = SchemaHistory.versions(name);
      for (int older = 0; older < versions.size(); older++) {
        for (int newer = older + 1; newer < versions.size(); newer++) {
          assertThat(SchemaHistory.incompatibilities(versions.get(older), versions.get(newer)))
              .as("%s v%d against v%d", name, older + 1, newer + 1)
              .isEmpty();
        }
      }
    }
  }

  // The checks above only mean something if the checker rejects real breakage.
  @Test
  void theCheckerRejectsAFieldAddedWithoutDefaultAndARemovedEnumSymbol() {
    Schema v1 = parse("""
        {"type":"record","name":"R","fields":[
          {"name":"a","type":"int"},
          {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}}]}""");
    Schema addedWithoutDefault = parse("""
        {"type":"record","name":"R","fields":[
          {"name":"a","type":"int"}, {"name":"b","type":"long"},
          {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}}]}""");
    Schema addedWithDefault = parse("""
        {"type":"record","name":"R","fields":[
          {"name":"a","type":"int"}, {"name":"b","type":"long","default":0},
          {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}}]}""");
    Schema symbolRemoved = parse("""
        {"type":"record","name":"R","fields":[
          {"name":"a","type":"int"},
          {"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}}]}""");

    assertThat(SchemaHistory.incompatibilities(v1, addedWithoutDefault))
        .singleElement().asString().contains("READER_FIELD_MISSING_DEFAULT_VALUE");
    assertThat(SchemaHistory.incompatibilities(v1, addedWithDefault)).isEmpty();
    assertThat(SchemaHistory.incompatibilities(v1, symbolRemoved))
        .singleElement().asString().contains("MISSING_ENUM_SYMBOLS");
  }

  @Test
  void enumsHaveADefaultSoAnOldReaderSurvivesANewSymbol() {
    Schema older = TensorEncoding.getClassSchema();
    Schema newer = parse("""
        {"type":"enum","name":"TensorEncoding","namespace":"dev.diloco.schemas",
         "symbols":["UNKNOWN","FP32","FP16","BF16","INT8"],"default":"UNKNOWN"}""");
    assertThat(SchemaHistory.incompatibilities(older, newer)).isEmpty();
  }

  @Test
  void aReaderOfTheFirstReleaseSeesAnInt4ChunkAsUnknownSoItRejectsIt()
      throws Exception {
    PseudoGradientChunk int4 = PseudoGradientChunk.newBuilder()
        .setRunId("r").setRound(1).setWorkerId("w").setChunkIndex(0).setChunkCount(1)
        .setElementOffset(0).setElementCount(2).setEncoding(TensorEncoding.INT4)
        .setCompression(Compression.NONE).setBytePlanes(false)
        .setPayload(java.nio.ByteBuffer.wrap(new byte[] {-3, 0x21})).setCrc32c(0)
        .setInnerSteps(1).setTokens(1).setMeanInnerLoss(1f).setCreatedAtMs(0).build();
    GenericRecord old = read(int4, PseudoGradientChunk.getClassSchema(),
        SchemaHistory.versions("PseudoGradientChunk").get(0));
    assertThat(old.get("encoding")).hasToString("UNKNOWN");
  }

  /** {@code value} written in {@code writer}, read as {@code reader}. */
  private static GenericRecord read(Object value, Schema writer, Schema reader) throws Exception {
    var out = new java.io.ByteArrayOutputStream();
    var encoder = EncoderFactory.get().binaryEncoder(out, null);
    new org.apache.avro.specific.SpecificDatumWriter<Object>(writer).write(value, encoder);
    encoder.flush();
    return new GenericDatumReader<GenericRecord>(writer, reader)
        .read(null, DecoderFactory.get().binaryDecoder(out.toByteArray(), null));
  }

  @Test
  void theSchemaStoreKnowsEveryReleasedVersion() {
    var store = SchemaHistory.schemaStore();
    for (String name : SchemaHistory.RECORDS.keySet()) {
      for (Schema version : SchemaHistory.versions(name)) {
        assertThat(store.findByFingerprint(SchemaNormalization.parsingFingerprint64(version)))
            .isNotNull();
      }
    }
  }

  private static Schema parse(String json) {
    return new Schema.Parser().parse(json);
  }
}
