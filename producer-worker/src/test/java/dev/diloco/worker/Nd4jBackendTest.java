package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diloco.worker.model.Backend;
import dev.diloco.worker.model.Transformer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The ND4J backend this build selected loads its native libraries on this machine and
 * multiplies matrices correctly. A missing or broken native backend fails here, not in the
 * middle of training.
 */
class Nd4jBackendTest {

  @Test
  void theBackendLoadsAndMultipliesMatrices() {
    INDArray a = Nd4j.create(new float[] {1, 2, 3, 4, 5, 6}, new int[] {2, 3}); // [2, 3]
    INDArray b = Nd4j.create(new float[] {7, 8, 9, 10, 11, 12}, new int[] {3, 2}); // [3, 2]
    INDArray c = a.mmul(b); // [2, 2]
    assertThat(c.dataType()).isEqualTo(DataType.FLOAT);
    assertThat(c.ravel().toFloatVector()).containsExactly(58, 64, 139, 154);
    assertThat(Nd4j.getBackend().getClass().getSimpleName()).isNotBlank();
  }

  /**
   * OpenBLAS before 0.3.25 ran any Intel model it did not know on its Prescott (SSE3) kernels: a
   * third of the sgemm rate of these hosts (model 207). On a CPU with AVX2 and FMA it must pick
   * kernels that use them.
   */
  @Test
  void openBlasUsesTheVectorUnitsTheCpuHas() throws IOException {
    Path cpuinfo = Path.of("/proc/cpuinfo");
    assumeTrue(Transformer.runsHere() && Files.isReadable(cpuinfo), "a Linux CPU backend");
    Set<String> flags = Files.readAllLines(cpuinfo).stream()
        .filter(l -> l.startsWith("flags")).findFirst()
        .map(l -> Set.copyOf(Arrays.asList(l.substring(l.indexOf(':') + 1).trim().split(" "))))
        .orElse(Set.of());
    assumeTrue(flags.contains("avx2") && flags.contains("fma"), "a CPU with AVX2 and FMA");
    assertThat(Backend.openblasCore())
        .as("OpenBLAS's kernels on a CPU with AVX2 (%s)", Backend.describe())
        .isIn("Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator");
  }
}
