package dev.diloco.schemas;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.message.SchemaStore;

/**
 * Every released version of every record that crosses a topic.
 *
 * <p>A run's log outlives the code that wrote it: a replay must decode records written by an
 * older build, and during an upgrade an older worker must decode records written by a newer
 * optimizer. So each released schema is kept in {@code history/NAME.vN.avsc}, readers are given
 * all of them ({@link #schemaStore()}), and a test requires every version to be compatible with
 * every other one in both directions. Changing a schema means adding its next version there.
 */
public final class SchemaHistory {

  /**
   * The current schema of each record type that crosses a topic, by simple name, and of the
   * worker's state file, which outlives the code that wrote it just as a log does.
   */
  public static final Map<String, Schema> RECORDS =
      List.of(
              ModelDescription.getClassSchema(),
              PseudoGradientChunk.getClassSchema(),
              ReducedChunk.getClassSchema(),
              WeightsChunk.getClassSchema(),
              RoundCommit.getClassSchema(),
              WorkerHeartbeat.getClassSchema(),
              DeadLetter.getClassSchema(),
              OptimizerStateChunk.getClassSchema(),
              RoundFailure.getClassSchema(),
              WorkerState.getClassSchema())
          .stream()
          .collect(Collectors.toUnmodifiableMap(Schema::getName, Function.identity()));

  private static final String HISTORY = "/dev/diloco/schemas/history/";

  private SchemaHistory() {}

  /** The released versions of one record type, oldest first (v1, v2, ...). */
  public static List<Schema> versions(String recordName) {
    List<Schema> versions = new ArrayList<>();
    for (int v = 1; ; v++) {
      String path = HISTORY + recordName + ".v" + v + ".avsc";
      try (InputStream in = SchemaHistory.class.getResourceAsStream(path)) {
        if (in == null) {
          return versions;
        }
        versions.add(new Schema.Parser().parse(in));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read schema history file " + path, e);
      }
    }
  }

  /**
   * All released versions of all topic records, for decoders of Avro single-object encoding.
   * Built once (it parses every history file) and only read afterwards.
   */
  public static SchemaStore schemaStore() {
    return Store.ALL;
  }

  private static final class Store {
    static final SchemaStore ALL = build();

    private static SchemaStore build() {
      SchemaStore.Cache store = new SchemaStore.Cache();
      RECORDS.keySet().forEach(name -> versions(name).forEach(store::addSchema));
      RECORDS.values().forEach(store::addSchema);
      return store;
    }
  }

  /**
   * Whether data written with either schema can be read with the other; empty when it can,
   * otherwise what breaks.
   */
  public static List<String> incompatibilities(Schema older, Schema newer) {
    List<String> problems = new ArrayList<>();
    check("a reader of the newer schema reading data of the older", newer, older, problems);
    check("a reader of the older schema reading data of the newer", older, newer, problems);
    return problems;
  }

  private static void check(String what, Schema reader, Schema writer, List<String> problems) {
    var result = SchemaCompatibility.checkReaderWriterCompatibility(reader, writer).getResult();
    if (result.getCompatibility() != SchemaCompatibilityType.COMPATIBLE) {
      result.getIncompatibilities()
          .forEach(i -> problems.add(what + ": " + i.getType() + " at " + i.getLocation()
              + " (" + i.getMessage() + ")"));
    }
  }
}
