package dev.diloco.core.layout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {

  @TempDir
  Path dir;

  /**
   * Reads the file as the format's specification describes it: 8 bytes, a little-endian u64 N;
   * N bytes of JSON mapping each tensor name to {dtype, shape, data_offsets [begin, end)}
   * relative to the byte after the header; then the data.
   */
  @Test
  void anIndependentReaderFindsEveryTensorWithItsShapeAndValues() throws Exception {
    ParameterLayout layout = ParameterLayout.builder().add("wte", 7, 5).add("blocks.0.b", 5)
        .add("lm_head", 5, 3).build();
    float[] weights = new float[(int) layout.totalElements()];
    Random random = new Random(2);
    for (int i = 0; i < weights.length; i++) {
      weights[i] = (float) random.nextGaussian();
    }
    Path file = dir.resolve("w.safetensors");
    Safetensors.write(file, layout, weights);

    ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    long headerLength = bytes.getLong(0);
    assertThat(headerLength % 8).isZero();
    JsonNode header = new ObjectMapper().readTree(new String(bytes.array(), 8,
        (int) headerLength, java.nio.charset.StandardCharsets.UTF_8).trim());
    int dataStart = 8 + (int) headerLength;
    assertThat(bytes.capacity() - dataStart).isEqualTo(4 * weights.length);

    Iterator<Map.Entry<String, JsonNode>> fields = header.fields();
    int tensors = 0;
    while (fields.hasNext()) {
      Map.Entry<String, JsonNode> e = fields.next();
      ParameterLayout.Tensor t = layout.tensor(e.getKey());
      assertThat(e.getValue().get("dtype").asText()).isEqualTo("F32");
      JsonNode shape = e.getValue().get("shape");
      for (int d = 0; d < t.shape().size(); d++) {
        assertThat(shape.get(d).asInt()).isEqualTo(t.shape().get(d));
      }
      long begin = e.getValue().get("data_offsets").get(0).asLong();
      long end = e.getValue().get("data_offsets").get(1).asLong();
      assertThat(end - begin).isEqualTo(4 * t.elementCount());
      for (int i = 0; i < t.elementCount(); i++) {
        assertThat(bytes.getFloat(dataStart + (int) begin + 4 * i))
            .isEqualTo(weights[(int) t.offset() + i]);
      }
      tensors++;
    }
    assertThat(tensors).isEqualTo(3);
  }

  @Test
  void weightsThatDoNotFitTheLayoutAreRefused() {
    ParameterLayout layout = ParameterLayout.builder().add("w", 2, 2).build();
    assertThatThrownBy(() -> Safetensors.write(dir.resolve("x"), layout, new float[3]))
        .hasMessageContaining("3 weights for a layout of 4");
  }

  private static final ParameterLayout TWO = ParameterLayout.builder().add("a", 2, 3)
      .add("b", 4).build();

  @Test
  void whatIsWrittenReadsBackBitForBit() throws Exception {
    float[] weights = {1.5f, -0f, Float.MIN_VALUE, 3e38f, -2.25f, 7f, 0.1f, -0.2f, 1e-40f, 42f};
    Path file = dir.resolve("w.safetensors");
    Safetensors.write(file, TWO, weights);
    float[] read = Safetensors.read(file, TWO);
    for (int i = 0; i < weights.length; i++) {
      assertThat(Float.floatToRawIntBits(read[i])).isEqualTo(Float.floatToRawIntBits(weights[i]));
    }
  }

  /** A file written by hand, as another tool would: tensors in another order, no padding. */
  @Test
  void aFileOfAnotherToolIsReadByNameNotByOrder() throws Exception {
    String json = "{\"__metadata__\":{\"format\":\"pt\"},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        + "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[16,40]}}";
    ByteBuffer data = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < 10; i++) {
      data.putFloat(i); // b = 0..3, a = 4..9
    }
    Path file = file(json, data.array());
    assertThat(Safetensors.read(file, TWO)).containsExactly(4, 5, 6, 7, 8, 9, 0, 1, 2, 3);
  }

  @Test
  void everyBadCheckpointIsRefusedWithTheTensorAndWhatIsWrong() throws Exception {
    byte[] forty = new byte[40];
    String b = "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]}";
    String a = "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}";
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "}", forty), TWO))
        .hasMessageContaining("tensor b: missing");
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "," + b.replace("[4]", "[2,2]")
        + "}", forty), TWO)).hasMessageContaining("tensor b: shape [2, 2], the model's is [4]");
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "," + b.replace("F32", "F64")
        + "}", forty), TWO)).hasMessageContaining("tensor b: dtype F64; F32, F16 and BF16 are "
        + "read");
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "," + b.replace("F32", "F16")
        + "}", forty), TWO)).hasMessageContaining("tensor b: data offsets [24,40] do not hold "
        + "4 F16 values");
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "," + b.replace("40]", "44]")
        + "}", forty), TWO)).hasMessageContaining("tensor b: data offsets [24,44] do not hold 4");
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "," + b + ",\"c\":{}}", forty),
        TWO)).hasMessageContaining("has tensors the model does not: [c]");
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "," + b, forty), TWO))
        .hasMessageContaining("its header is not JSON");
    // Trailing text after the object, or a tensor named twice: not one whole header.
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "," + b + "}{\"x\":1}", forty),
        TWO)).hasMessageContaining("its header is not JSON").hasMessageContaining("Trailing");
    String bAgain = b.replace("[24,40]", "[0,16]");
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "," + b + "," + bAgain + "}",
        forty), TWO)).hasMessageContaining("its header is not JSON")
        .hasMessageContaining("Duplicate field 'b'");
    // Spaces after the object are the format's padding.
    assertThat(Safetensors.read(file("{" + a + "," + b + "}   ", forty), TWO)).hasSize(10);
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "," + b + "}",
        new byte[30]), TWO)).hasMessageContaining("tensor b: data offsets [24,40] do not hold 4 F32 "
        + "values within the 30 data bytes");
    byte[] nan = new byte[40];
    ByteBuffer.wrap(nan).order(ByteOrder.LITTLE_ENDIAN).putFloat(4, Float.NaN);
    assertThatThrownBy(() -> Safetensors.read(file("{" + a + "," + b + "}", nan), TWO))
        .hasMessageContaining("tensor a: element 1 is NaN");

    Path garbage = dir.resolve("garbage");
    Files.write(garbage, "not a checkpoint at all".getBytes(StandardCharsets.UTF_8));
    assertThatThrownBy(() -> Safetensors.read(garbage, TWO))
        .hasMessageContaining("is not a safetensors file: its header length is");
    Path tiny = dir.resolve("tiny");
    Files.write(tiny, new byte[3]);
    assertThatThrownBy(() -> Safetensors.read(tiny, TWO)).hasMessageContaining("ends early");
    assertThatThrownBy(() -> Safetensors.read(dir.resolve("absent"), TWO))
        .hasMessageContaining("is not a file");
  }

  private Path file(String json, byte[] data) throws Exception {
    byte[] header = json.getBytes(StandardCharsets.UTF_8);
    Path file = Files.createTempFile(dir, "c", ".safetensors");
    ByteBuffer all = ByteBuffer.allocate(8 + header.length + data.length)
        .order(ByteOrder.LITTLE_ENDIAN);
    all.putLong(header.length).put(header).put(data);
    Files.write(file, all.array());
    return file;
  }

  /**
   * Checkpoints of half-precision tensors (how most published ones are stored) are widened
   * exactly: 1.5 and -0.25 in F16 (0x3E00, 0xB400) and BF16 (0x3FC0, 0xBE80); other dtypes are
   * refused by name.
   */
  @Test
  void halfPrecisionTensorsAreWidenedExactlyAndOtherDtypesRefused() throws Exception {
    ParameterLayout layout = ParameterLayout.builder().add("a", 2).add("b", 2).build();
    String header = "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
        + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]}}";
    Path file = dir.resolve("half.safetensors");
    Files.write(file, withHeader(header, new short[] {0x3E00, (short) 0xB400, 0x3FC0,
        (short) 0xBE80}));
    assertThat(Safetensors.read(file, layout)).isEqualTo(new float[] {1.5f, -0.25f, 1.5f,
        -0.25f});
    Files.write(file, withHeader(header.replace("BF16", "I16"), new short[4]));
    assertThatThrownBy(() -> Safetensors.read(file, layout)).hasMessageContaining(
        "tensor b: dtype I16; F32, F16 and BF16 are read");
  }

  private static byte[] withHeader(String header, short[] data) {
    byte[] json = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + json.length + 2 * data.length)
        .order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(json.length).put(json);
    for (short d : data) {
      b.putShort(d);
    }
    return b.array();
  }
}
