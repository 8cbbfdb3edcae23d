package dev.diloco.core.kafka;

import java.nio.ByteBuffer;
import java.util.List;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.generic.IndexedRecord;

/**
 * The bounds on every string, short byte string and list of a record on the wire, declared
 * once, in the schemas: a field's {@code maxLength} (UTF-8 bytes of a string, or bytes) and
 * {@code maxItems} (items of a list; {@code maxLength} then bounds each string item). A
 * record beyond one is refused by every reader ({@link AvroSerde#decode}) before anything
 * signs, keys or keeps it, and never written ({@link AvroSerde#encode}): a 64 KiB reason or a
 * 70,000-character worker id is a malformed record, not a crash of whoever reads it.
 *
 * <p>Byte fields without a {@code maxLength} are payloads, bounded by the record's own size
 * (the broker's {@code max.message.bytes}) and checked against what the record says they hold
 * by the topic's rules.
 */
public final class WireBounds {
  private WireBounds() {}

  /**
   * The longest string any field allows, in UTF-8 bytes: the decoder refuses a longer one
   * before allocating it, whatever the field ({@code WireBoundsTest} holds every field to it).
   */
  public static final int MAX_STRING_BYTES = 4096;

  /** {@code record} if every field is within its bounds; else names the first that is not. */
  public static <R extends IndexedRecord> R check(R record) {
    Schema schema = record.getSchema();
    for (Schema.Field field : schema.getFields()) {
      check(schema.getName() + "." + field.name(), field, record.get(field.pos()));
    }
    return record;
  }

  /**
   * {@code text} cut to what field {@code field} of {@code schema} holds, with "..." where it
   * was cut: for the texts a service writes for people (reasons, details), which may quote
   * what it read.
   */
  public static String fit(Schema schema, String field, String text) {
    int max = maxLength(schema.getField(field));
    if (text == null || max < 0 || utf8Length(text) <= max) {
      return text;
    }
    StringBuilder cut = new StringBuilder();
    int bytes = 3; // the "..."
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      if (bytes > max) {
        break;
      }
      cut.appendCodePoint(cp);
      i += Character.charCount(cp);
    }
    return cut.append("...").toString();
  }

  /**
   * {@code value} if field {@code field} of {@code schema} holds it; else an
   * IllegalArgumentException that says so of {@code what}: for values a user gives (a worker id).
   */
  public static String requireFits(Schema schema, String field, String value, String what) {
    int max = maxLength(schema.getField(field));
    long length = utf8Length(value);
    if (max >= 0 && length > max) {
      throw new IllegalArgumentException(what + " is " + length + " bytes long in UTF-8; the "
          + "wire holds at most " + max);
    }
    return value;
  }

  /** {@code bytes} cut to what field {@code field} of {@code schema} holds. */
  public static byte[] fit(Schema schema, String field, byte[] bytes) {
    int max = maxLength(schema.getField(field));
    return max < 0 || bytes.length <= max ? bytes : java.util.Arrays.copyOf(bytes, max);
  }

  private static void check(String where, Schema.Field field, Object value) {
    if (value instanceof List<?> items) {
      int maxItems = field.getObjectProp("maxItems") instanceof Number n ? n.intValue() : -1;
      if (maxItems >= 0 && items.size() > maxItems) {
        throw new AvroRuntimeException(where + " has " + items.size() + " items; at most "
            + maxItems);
      }
      for (Object item : items) {
        checkValue(where + "[]", field, item);
      }
    } else {
      checkValue(where, field, value);
    }
  }

  private static void checkValue(String where, Schema.Field field, Object value) {
    if (value instanceof IndexedRecord nested) {
      check(nested);
      return;
    }
    int max = maxLength(field);
    long length = value instanceof CharSequence s ? utf8Length(s)
        : value instanceof ByteBuffer b ? b.remaining() : -1;
    if (max >= 0 && length > max) {
      throw new AvroRuntimeException(where + " is " + length + " bytes long; at most " + max);
    }
  }

  /** The most items field {@code field} of {@code schema} holds. */
  public static int maxItems(Schema schema, String field) {
    return ((Number) schema.getField(field).getObjectProp("maxItems")).intValue();
  }

  private static int maxLength(Schema.Field field) {
    return field.getObjectProp("maxLength") instanceof Number n ? n.intValue() : -1;
  }

  /** Bytes of {@code s} in UTF-8; an unpaired surrogate counts 3, more than its '?' takes. */
  static long utf8Length(CharSequence s) {
    long bytes = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        bytes += 1;
      } else if (c < 0x800) {
        bytes += 2;
      } else if (Character.isHighSurrogate(c) && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        bytes += 4;
        i++;
      } else {
        bytes += 3;
      }
    }
    return bytes;
  }
}
