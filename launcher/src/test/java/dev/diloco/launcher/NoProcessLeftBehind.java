package dev.diloco.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test that leaves a child process behind (after a bounded wait for ones that are
 * exiting), and kills what it left.
 */
public final class NoProcessLeftBehind implements AfterEachCallback {
  @Override
  public void afterEach(ExtensionContext context) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    List<ProcessHandle> left = ProcessHandle.current().descendants().toList();
    while (!left.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(100); // polling processes that are on their way out, within a bound
      left = ProcessHandle.current().descendants().toList();
    }
    left.forEach(ProcessHandle::destroyForcibly);
    assertThat(left).as("processes left behind by %s", context.getDisplayName()).isEmpty();
  }
}
