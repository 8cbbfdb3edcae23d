package dev.diloco.bench;

import dev.diloco.core.layout.Safetensors;
import dev.diloco.launcher.local.LocalRun;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OuterOptimizerConfig;
import dev.diloco.worker.LanguageModel;
import dev.diloco.worker.EvalSet;
import dev.diloco.worker.RunSpec;
import dev.diloco.worker.TrainingData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One point of a sweep, in a process of its own: ND4J's ops from two threads of one process
 * serialise badly (two jobs side by side ran 20 times slower than one), so points train side by
 * side as processes, each on one OpenMP thread. Reads the run's description and initial weights
 * that {@link Sweep} wrote, trains the arm ({@link InProcessArms}) and writes its last weights
 * and its curve next to them.
 */
final class SweepPoint {

  /**
   * What a point trains: {@code workers} 1 alone, else data-parallel ({@code h} 0) or DiLoCo
   * with H = {@code h}; {@code innerLr} and {@code outerLr} replace the description's.
   */
  record Job(String arm, double learningRate, int workers, int h, double innerLr,
      double outerLr, long salt) {
    Job {
      if (workers < 1 || h < 0 || (h > 0 && workers < 2)) {
        throw new IllegalArgumentException("a sweep point of " + workers + " workers and H = "
            + h + " is neither a single worker, data-parallel nor DiLoCo");
      }
    }

    List<String> args() {
      return List.of(Integer.toString(workers), Integer.toString(h), Double.toString(innerLr),
          Double.toString(outerLr), Long.toString(salt));
    }

    static Job of(String[] a, int from) {
      return new Job("", 0, Integer.parseInt(a[from]), Integer.parseInt(a[from + 1]),
          Double.parseDouble(a[from + 2]), Double.parseDouble(a[from + 3]),
          Long.parseLong(a[from + 4]));
    }
  }

  /** Where {@link Sweep} leaves what every point shares: the description and θ(0). */
  static Path description(Path dir) {
    return dir.resolve("run.avro");
  }

  static Path initial(Path dir) {
    return dir.resolve("initial.safetensors");
  }

  private SweepPoint() {}

  /**
   * {@code DIR BUDGET DATA|- OUT WORKERS H INNER_LR OUTER_LR SALT}: writes OUT.safetensors and
   * OUT.csv (step,eval_loss, then seconds,S).
   */
  public static void main(String[] args) throws IOException {
    if (args.length != 9) {
      throw new IllegalArgumentException("usage: SweepPoint DIR BUDGET DATA|- OUT WORKERS H "
          + "INNER_LR OUTER_LR SALT, got " + List.of(args));
    }
    // Not to outlive the benchmark that started it.
    ProcessHandle.current().parent().ifPresent(p -> p.onExit().thenRun(() ->
        Runtime.getRuntime().halt(3)));
    Path dir = Path.of(args[0]);
    int budget = Integer.parseInt(args[1]);
    Path out = Path.of(args[3]);
    Job job = Job.of(args, 4);
    RunSpec spec = RunSpec.of(ModelDescription.fromByteBuffer(ByteBuffer.wrap(
        Files.readAllBytes(description(dir)))));
    LanguageModel model = spec.newModel();
    float[] initial = Safetensors.read(initial(dir), model.layout());
    TrainingData data = InProcessArms.data(args[2].equals("-") ? null : Path.of(args[2]),
        spec.model().vocab());
    EvalSet curve = new EvalSet(data.eval(), LocalRun.EVAL_BATCHES, spec.batch(),
        spec.model().contextLength(), spec.seed());
    InProcessArms.Setup setup = new InProcessArms.Setup(data, spec, initial, budget, curve);
    var inner = spec.inner().withLearningRate(job.innerLr());
    InProcessArms.Trained t;
    if (job.h() == 0) {
      t = InProcessArms.local(setup, job.workers(), inner, job.salt());
    } else {
      OuterOptimizerConfig outer = OuterOptimizerConfig.newBuilder(spec.outer())
          .setLearningRate(job.outerLr()).build();
      t = InProcessArms.diloco(setup, job.workers(), job.h(), inner, outer);
    }
    Safetensors.write(Path.of(out + ".safetensors"), model.layout(), t.weights());
    StringBuilder csv = new StringBuilder();
    for (int i = 0; i < t.steps().size(); i++) {
      csv.append(String.format(Locale.ROOT, "%d,%.6f%n", t.steps().get(i), t.curve().get(i)));
    }
    csv.append(String.format(Locale.ROOT, "seconds,%.3f%n", t.seconds()));
    Files.writeString(Path.of(out + ".csv"), csv);
  }

  /** What a finished point left: its curve, last weights and seconds. */
  static InProcessArms.Trained read(Path out, dev.diloco.core.layout.ParameterLayout layout)
      throws IOException {
    List<Integer> steps = new ArrayList<>();
    List<Double> losses = new ArrayList<>();
    double seconds = 0;
    for (String line : Files.readAllLines(Path.of(out + ".csv"))) {
      String[] f = line.split(",");
      if (f[0].equals("seconds")) {
        seconds = Double.parseDouble(f[1]);
      } else {
        steps.add(Integer.parseInt(f[0]));
        losses.add(Double.parseDouble(f[1]));
      }
    }
    return new InProcessArms.Trained(steps, losses,
        Safetensors.read(Path.of(out + ".safetensors"), layout), seconds);
  }
}
