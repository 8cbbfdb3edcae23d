package dev.diloco.launcher.local;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The workers of a local run, each a process of its own so that they really run side by side
 * and die like machines: started with this JVM's class path, watched, started again when one
 * dies before the end (it rejoins at the newest round), and stopped when the run is over or
 * this process exits. Each writes {@code worker-N.log} in the run directory and keeps its state in
 * {@code state/worker-N}, so a worker started again goes on to the bits it would have reached.
 */
final class WorkerProcesses implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(WorkerProcesses.class);
  private static final int MAX_RESTARTS = 3;

  private final LocalRun.Plan plan;
  private final String bootstrap;
  private final PrintStream console;
  private final List<Process> workers = new ArrayList<>();
  private final int[] restarts;
  private boolean finished;

  WorkerProcesses(LocalRun.Plan plan, String bootstrap, PrintStream console) {
    this.plan = plan;
    this.bootstrap = bootstrap;
    this.console = console;
    this.restarts = new int[plan.workers()];
  }

  void startAll() throws IOException {
    for (int w = 0; w < plan.workers(); w++) {
      workers.add(start(w));
    }
  }

  /**
   * A worker's heap: 1 GiB, and 160 bytes a parameter more (its weights, gradient, AdamW's
   * moments, the error-feedback residual and the overlap's estimate as float arrays, and the
   * state file's encoding). Measured: llama-2m at GPT-2's vocabulary (6.6M parameters) with
   * INT4 and eager overlap ran out of 1 GiB saving its state, and ran in 2.
   */
  private long heapMegabytes() {
    return 1024 + 160 * plan.spec().model().parameters() / (1 << 20);
  }

  private Process start(int index) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(List.of(java, "-Xmx" + heapMegabytes() + "m", "-cp",
        System.getProperty("java.class.path")));
    command.addAll(plan.workerCommand());
    command.addAll(List.of("--run", plan.spec().runId(), "--bootstrap-servers", bootstrap,
        "--worker-id", "worker-" + index, "--shard", Integer.toString(index),
        "--shards", Integer.toString(plan.workers()),
        "--until-round", Integer.toString(plan.rounds()),
        "--state-dir", plan.out().resolve("state").resolve("worker-" + index).toString(),
        "--exit-with", Long.toString(ProcessHandle.current().pid())));
    if (plan.data() != null) {
      command.add("--data");
      command.add(plan.data().toString());
    }
    if (plan.nonIid()) {
      command.add("--non-iid");
    }
    File log = plan.out().resolve("worker-" + index + ".log").toFile();
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log));
    builder.environment().putIfAbsent(OMP_THREADS, Integer.toString(threadsPerWorker(
        Runtime.getRuntime().availableProcessors(), plan.workers())));
    return builder.start();
  }

  /** ND4J's native ops take their thread count from OpenMP's variable, read at start. */
  static final String OMP_THREADS = "OMP_NUM_THREADS";

  /**
   * OpenMP threads for each of {@code workers} worker processes on {@code cores}: the cores
   * shared out among the workers and this process (broker, reducer, optimizer), at least one.
   * ND4J's default, every core for each process, oversubscribes them: on 2 cores a worker of
   * two ran at 758-2,021 tokens/s against 4,393-5,296 with one thread (RESULTS, section 7).
   */
  static int threadsPerWorker(int cores, int workers) {
    return Math.max(1, cores / (workers + 1));
  }

  /** Starts again a worker that died before the end; fails after too many deaths. */
  void supervise() throws IOException {
    for (int w = 0; w < workers.size(); w++) {
      Process p = workers.get(w);
      if (p.isAlive() || finished || p.exitValue() == 0) {
        continue; // running, or it trained its last round and left
      }
      if (restarts[w] >= MAX_RESTARTS) {
        throw new IllegalStateException("worker-" + w + " died " + (MAX_RESTARTS + 1)
            + " times; see " + plan.out().resolve("worker-" + w + ".log"));
      }
      restarts[w]++;
      console.printf("worker-%d stopped (exit %d); starting it again%n", w, p.exitValue());
      workers.set(w, start(w));
    }
  }

  /** The run is over: each worker leaves after its last round, or is stopped. */
  void awaitExit() throws InterruptedException {
    finished = true;
    for (Process p : workers) {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        LOG.warn("a worker did not leave within 60 s after the last round; stopping it");
        p.destroy();
      }
    }
  }

  /** Stops every worker still running: SIGTERM (it says it leaves), then SIGKILL. */
  @Override
  public void close() {
    for (Process p : workers) {
      if (p.isAlive()) {
        p.destroy();
      }
    }
    for (Process p : workers) {
      try {
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
          p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        p.destroyForcibly();
      }
    }
  }
}
