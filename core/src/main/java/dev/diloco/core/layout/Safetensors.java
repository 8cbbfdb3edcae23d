package dev.diloco.core.layout;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes weights as a safetensors file, named by the parameter layout: an 8-byte little-endian
 * header length, a JSON header mapping each tensor's name to its dtype, shape and byte offsets,
 * then the FP32 little-endian data, so the weights open in other ecosystems' tools.
 */
public final class Safetensors {
  private Safetensors() {}

  public static void write(Path file, ParameterLayout layout, float[] weights) throws IOException {
    if (weights.length != layout.totalElements()) {
      throw new IllegalArgumentException(weights.length + " weights for a layout of "
          + layout.totalElements());
    }
    StringBuilder json = new StringBuilder("{");
    for (ParameterLayout.Tensor t : layout.tensors()) {
      long start = 4 * t.offset();
      json.append(json.length() > 1 ? "," : "").append('"').append(t.name())
          .append("\":{\"dtype\":\"F32\",\"shape\":").append(t.shape().toString().replace(" ", ""))
          .append(",\"data_offsets\":[").append(start).append(',')
          .append(start + 4 * t.elementCount()).append("]}");
    }
    json.append('}');
    byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
    int padded = (header.length + 7) / 8 * 8; // the format allows trailing spaces; 8-aligned data
    try (OutputStream out = Files.newOutputStream(file)) {
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
      out.write(header);
      out.write(" ".repeat(padded - header.length).getBytes(StandardCharsets.US_ASCII));
      ByteBuffer data = ByteBuffer.allocate(64 * 1024).order(ByteOrder.LITTLE_ENDIAN);
      for (float w : weights) {
        if (!data.hasRemaining()) {
          out.write(data.array(), 0, data.position());
          data.clear();
        }
        data.putFloat(w);
      }
      out.write(data.array(), 0, data.position());
    }
  }
}
