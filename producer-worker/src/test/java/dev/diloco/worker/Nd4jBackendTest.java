package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;

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
}
