package dev.diloco.worker;

/**
 * What one round measured. {@code waitSeconds}: time the training thread spent on
 * communication (waiting for and reading the round's weights, sending its Δ until
 * acknowledged, or in an overlapped round joining what its own thread did meanwhile);
 * {@code waited}: whether the round's weights were not there yet when they were needed.
 */
public record RoundReport(int round, float meanInnerLoss, float evalLoss, double tokensPerSecond,
    long bytesPublished, long bytesReceived, double computeSeconds, double waitSeconds,
    boolean waited) {
  /** The share of the round spent computing rather than waiting for weights. */
  public double computeUtilisation() {
    return computeSeconds / (computeSeconds + waitSeconds);
  }
}
