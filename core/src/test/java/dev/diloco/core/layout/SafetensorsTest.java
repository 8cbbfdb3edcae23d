package dev.diloco.core.layout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
}
