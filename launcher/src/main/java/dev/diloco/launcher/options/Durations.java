package dev.diloco.launcher.options;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** Durations as people write them on a command line: 500ms, 90s, 30m, 2h, 30d. */
public final class Durations implements ITypeConverter<Duration> {

  private static final Pattern FORMAT = Pattern.compile("(\\d+)(ms|s|m|h|d)");

  @Override
  public Duration convert(String value) {
    Matcher m = FORMAT.matcher(value.trim());
    if (!m.matches()) {
      throw new TypeConversionException("'" + value + "' is not a duration: write a whole "
          + "number and a unit, e.g. 500ms, 90s, 30m, 2h or 30d");
    }
    long n = Long.parseLong(m.group(1));
    Duration d = switch (m.group(2)) {
      case "ms" -> Duration.ofMillis(n);
      case "s" -> Duration.ofSeconds(n);
      case "m" -> Duration.ofMinutes(n);
      case "h" -> Duration.ofHours(n);
      default -> Duration.ofDays(n);
    };
    if (d.isZero()) {
      throw new TypeConversionException("'" + value + "' is zero: a duration must be positive");
    }
    return d;
  }

  /** {@code d} as the options write it: 90s, 10m, 2h. */
  public static String format(Duration d) {
    long seconds = d.toSeconds();
    if (d.toMillisPart() != 0 || seconds == 0) {
      return d.toMillis() + "ms";
    }
    return seconds % 3600 == 0 ? seconds / 3600 + "h"
        : seconds % 60 == 0 ? seconds / 60 + "m" : seconds + "s";
  }
}
