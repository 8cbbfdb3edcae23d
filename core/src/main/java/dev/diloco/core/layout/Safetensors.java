package dev.diloco.core.layout;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Weights as a safetensors file, named by the parameter layout: an 8-byte little-endian header
 * length, a JSON header mapping each tensor's name to its dtype, shape and byte offsets, then
 * the FP32 little-endian data, so the weights open in other ecosystems' tools; and read back
 * into a layout, for a run that starts from a checkpoint.
 */
public final class Safetensors {
  private Safetensors() {}

  public static void write(Path file, ParameterLayout layout, float[] weights) throws IOException {
    write(file, layout, weights, null);
  }

  /**
   * As above, with a {@code __metadata__} entry first when {@code metadata} is not null (for
   * Hugging Face's loader, {@code {"format":"pt"}}); the data in layout order.
   */
  public static void write(Path file, ParameterLayout layout, float[] weights,
      Map<String, String> metadata) throws IOException {
    if (weights.length != layout.totalElements()) {
      throw new IllegalArgumentException(weights.length + " weights for a layout of "
          + layout.totalElements());
    }
    StringBuilder json = new StringBuilder("{");
    if (metadata != null) {
      json.append("\"__metadata__\":").append(new ObjectMapper().writeValueAsString(
          new java.util.TreeMap<>(metadata)));
    }
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

  /**
   * The header is one JSON object, whole: trailing text after it, or a tensor named twice (of
   * which a lenient reader would take the last), is a malformed header, not a checkpoint.
   */
  private static final ObjectMapper HEADER_READER = new ObjectMapper()
      .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  /** The header may not be larger than this (the format's reference implementation: 100 MB). */
  private static final long MAX_HEADER_BYTES = 100_000_000L;

  /**
   * Reads a safetensors file into {@code layout}'s flat vector: every tensor of the layout must
   * be in the file with its shape, and nothing else; each error names the file and the tensor.
   * F32 is read as it is, F16 and BF16 widened exactly. Non-finite values are refused: a run
   * cannot start from them.
   */
  public static float[] read(Path file, ParameterLayout layout) throws IOException {
    return read(file, layout, name -> name);
  }

  /**
   * As above, where the file's tensor named n is the layout's {@code names.apply(n)}, or is
   * passed over when that is null (another tool's buffers, a tied head written twice).
   */
  public static float[] read(Path file, ParameterLayout layout,
      java.util.function.Function<String, String> names) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("checkpoint " + file + " is not a file");
    }
    long size = Files.size(file);
    try (var channel = Files.newByteChannel(file)) {
      ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(channel, length, file);
      long headerBytes = length.getLong(0);
      if (headerBytes < 2 || headerBytes > MAX_HEADER_BYTES || 8 + headerBytes > size) {
        throw new IllegalArgumentException("checkpoint " + file + " is not a safetensors file: "
            + "its header length is " + headerBytes + " in a file of " + size + " bytes");
      }
      ByteBuffer header = ByteBuffer.allocate((int) headerBytes);
      readFully(channel, header, file);
      JsonNode json;
      try {
        json = HEADER_READER.readTree(new String(header.array(), StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new IllegalArgumentException("checkpoint " + file + ": its header is not JSON: "
            + e.getMessage());
      }
      if (json == null || !json.isObject()) {
        throw new IllegalArgumentException("checkpoint " + file + ": its header is not a JSON "
            + "object");
      }
      long dataBytes = size - 8 - headerBytes;
      List<String> extra = new ArrayList<>();
      Map<String, JsonNode> entries = new java.util.HashMap<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = json.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        String name = e.getKey().equals("__metadata__") ? null : names.apply(e.getKey());
        if (name != null && !hasTensor(layout, name)) {
          extra.add(e.getKey());
        } else if (name != null && entries.put(name, e.getValue()) != null) {
          throw new IllegalArgumentException("checkpoint " + file + " holds tensor " + name
              + " twice, under two names");
        }
      }
      if (!extra.isEmpty()) {
        throw new IllegalArgumentException("checkpoint " + file + " has tensors the model does "
            + "not: " + extra);
      }
      float[] weights = new float[Math.toIntExact(layout.totalElements())];
      for (ParameterLayout.Tensor t : layout.tensors()) {
        JsonNode entry = entries.get(t.name());
        String where = "checkpoint " + file + ", tensor " + t.name();
        if (entry == null) {
          throw new IllegalArgumentException(where + ": missing");
        }
        String dtype = entry.path("dtype").asText();
        int width = switch (dtype) {
          case "F32" -> 4;
          case "F16", "BF16" -> 2;
          default -> throw new IllegalArgumentException(where + ": dtype " + dtype + "; F32, F16 "
              + "and BF16 are read");
        };
        List<Integer> shape = new ArrayList<>();
        entry.path("shape").forEach(d -> shape.add(d.asInt()));
        if (!shape.equals(t.shape())) {
          throw new IllegalArgumentException(where + ": shape " + shape + ", the model's is "
              + t.shape());
        }
        JsonNode offsets = entry.path("data_offsets");
        long begin = offsets.path(0).asLong(-1);
        long end = offsets.path(1).asLong(-1);
        if (offsets.size() != 2 || begin < 0 || end - begin != width * t.elementCount()
            || end > dataBytes) {
          throw new IllegalArgumentException(where + ": data offsets " + offsets + " do not "
              + "hold " + t.elementCount() + " " + dtype + " values within the " + dataBytes
              + " data bytes");
        }
        ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(end - begin))
            .order(ByteOrder.LITTLE_ENDIAN);
        channel.position(8 + headerBytes + begin);
        readFully(channel, data, file);
        for (int i = 0; i < t.elementCount(); i++) {
          float v = switch (dtype) {
            case "F32" -> data.getFloat(4 * i);
            case "F16" -> dev.diloco.core.codec.Fp16.toFloat(data.getShort(2 * i));
            default -> dev.diloco.core.codec.Bf16.toFloat(data.getShort(2 * i));
          };
          if (!Float.isFinite(v)) {
            throw new IllegalArgumentException(where + ": element " + i + " is " + v);
          }
          weights[(int) t.offset() + i] = v;
        }
      }
      return weights;
    }
  }

  private static boolean hasTensor(ParameterLayout layout, String name) {
    return layout.tensors().stream().anyMatch(t -> t.name().equals(name));
  }

  private static void readFully(java.nio.channels.SeekableByteChannel channel, ByteBuffer into,
      Path file) throws IOException {
    while (into.hasRemaining()) {
      if (channel.read(into) < 0) {
        throw new IllegalArgumentException("checkpoint " + file + " ends early");
      }
    }
  }
}
