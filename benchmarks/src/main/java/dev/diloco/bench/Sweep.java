package dev.diloco.bench;

import dev.diloco.core.layout.Safetensors;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.EvalSet;
import dev.diloco.worker.RunSpec;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A learning-rate sweep: its points trained side by side, each in a process of its own on one
 * OpenMP thread ({@link SweepPoint}), then measured here on a validation set of their own, so
 * that an arm is chosen on other windows than those it is reported on.
 */
final class Sweep {

  /** One trained point: the arm, the learning rate swept, what it reached. */
  record Point(String arm, double learningRate, InProcessArms.Trained trained,
      EvalSet.Measured validation) {}

  private final Path dir;
  private final RunSpec spec;
  private final int budget;
  private final Path data;
  private final int processes;
  private final EvalSet validation;
  private final PrintStream console;
  /** Reads and measures each finished point, one at a time. */
  private final LanguageModel model;
  private int next;

  /** Writes what every point shares into {@code dir}: the run's description and θ(0). */
  Sweep(Path dir, RunSpec spec, float[] initial, int budget, Path data, int processes,
      EvalSet validation, PrintStream console) throws IOException {
    this.dir = Files.createDirectories(dir);
    this.spec = spec;
    this.budget = budget;
    this.data = data;
    this.processes = processes;
    this.validation = validation;
    this.console = console;
    this.model = spec.newModel();
    ByteBuffer description = spec.describe(model).toByteBuffer();
    byte[] bytes = new byte[description.remaining()];
    description.get(bytes);
    Files.write(SweepPoint.description(dir), bytes);
    Safetensors.write(SweepPoint.initial(dir), model.layout(), initial);
  }

  /** Trains every job, {@code processes} at a time; points in the jobs' order. */
  List<Point> run(List<SweepPoint.Job> jobs) throws InterruptedException {
    ExecutorService pool = Executors.newFixedThreadPool(processes);
    List<Process> started = java.util.Collections.synchronizedList(new ArrayList<>());
    // Whatever ends this process, no point outlives it (each also watches for it, slower).
    Thread hook = new Thread(() -> started.forEach(Process::destroyForcibly), "sweep-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      List<Future<Point>> futures = new ArrayList<>();
      for (SweepPoint.Job job : jobs) {
        Path out = dir.resolve("point-" + next++);
        futures.add(pool.submit(() -> train(job, out, started)));
      }
      List<Point> points = new ArrayList<>();
      for (Future<Point> f : futures) {
        points.add(f.get());
      }
      return points;
    } catch (ExecutionException e) {
      throw new IllegalStateException("a sweep point failed: " + e.getCause().getMessage(),
          e.getCause());
    } finally {
      pool.shutdownNow();
      started.forEach(Process::destroyForcibly);
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException exiting) {
        // the hook runs anyway
      }
    }
  }

  private Point train(SweepPoint.Job job, Path out, List<Process> started) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(List.of(java, "-Xmx1g", "-cp",
        System.getProperty("java.class.path"), SweepPoint.class.getName(), dir.toString(),
        Integer.toString(budget), data == null ? "-" : data.toString(), out.toString()));
    command.addAll(job.args());
    Path log = Path.of(out + ".log");
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    builder.environment().put("OMP_NUM_THREADS", "1");
    Process p = builder.start();
    started.add(p);
    int exit = p.waitFor();
    if (exit != 0) {
      List<String> lines = Files.readAllLines(log);
      throw new IllegalStateException(job.arm() + " at lr " + job.learningRate() + " exited "
          + exit + "; the end of " + log + ":\n  " + String.join("\n  ",
              lines.subList(Math.max(0, lines.size() - 15), lines.size())));
    }
    Point point;
    synchronized (this) { // measured one at a time, beside the points still training
      InProcessArms.Trained trained = SweepPoint.read(out, model.layout());
      model.setParameters(trained.weights());
      point = new Point(job.arm(), job.learningRate(), trained, validation.measure(model));
      console.printf("  sweep: %s at lr %s: validation loss %.4f ± %.4f (%.0f s)%n",
          point.arm(), point.learningRate(), point.validation().mean(),
          point.validation().standardError(), trained.seconds());
    }
    return point;
  }

  /** The point of {@code arm} with the lowest validation loss. */
  static Point best(List<Point> points, String arm) {
    return points.stream().filter(p -> p.arm().equals(arm))
        .min(Comparator.comparingDouble(p -> p.validation().mean()))
        .orElseThrow(() -> new IllegalArgumentException("the sweep has no point of " + arm));
  }
}
