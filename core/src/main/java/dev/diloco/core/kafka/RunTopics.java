package dev.diloco.core.kafka;

import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The names of a run's topics: the one place they are made. Every topic of run {@code R} is
 * {@code diloco.R.<kind>}, so runs share a cluster without clashing and an ACL prefix covers a run.
 */
public record RunTopics(String runId) {

  public static final String PREFIX = "diloco.";

  private static final Pattern RUN_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,99}");

  public RunTopics {
    Objects.requireNonNull(runId, "runId");
    if (!RUN_ID.matcher(runId).matches()) {
      throw new IllegalArgumentException("run id '" + runId + "' is not valid: use 1 to 100 "
          + "letters, digits, '_' or '-', starting with a letter or digit");
    }
  }

  /** The run's model description (compacted; key = run id). */
  public String model() {
    return name("model");
  }

  /** Workers' pseudo-gradient chunks (key = chunk index, so chunk i of every worker meets). */
  public String pseudoGradients() {
    return name("pseudograds");
  }

  /** The reducer's exact sums, one record per (round, chunk). */
  public String reduced() {
    return name("reduced");
  }

  /** Global weights chunks of each round, written with the round's commit in one transaction. */
  public String weights() {
    return name("weights");
  }

  /** One commit record per round, after its weights chunks. */
  public String commits() {
    return name("commits");
  }

  /** Worker joins, heartbeats and leaves. */
  public String membership() {
    return name("membership");
  }

  /** Records kept out of the computation, with the reason. */
  public String deadLetters() {
    return name("deadletter");
  }

  public List<String> all() {
    return List.of(model(), pseudoGradients(), reduced(), weights(), commits(), membership(),
        deadLetters());
  }

  private String name(String kind) {
    return PREFIX + runId + "." + kind;
  }
}
