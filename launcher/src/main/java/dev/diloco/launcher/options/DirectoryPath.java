package dev.diloco.launcher.options;

import java.nio.file.Path;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * A directory option ({@code --state-dir}): an empty value is refused as it is given, since
 * {@code Path.of("")} is the working directory, where a service would put its state unasked.
 */
public final class DirectoryPath implements ITypeConverter<Path> {
  @Override
  public Path convert(String value) {
    if (value.isBlank()) {
      throw new TypeConversionException("an empty path: name a directory");
    }
    return Path.of(value);
  }
}
