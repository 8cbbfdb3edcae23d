package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.layout.ParameterLayout;
import java.util.List;
import java.util.SplittableRandom;
import org.assertj.core.data.Offset;

/**
 * Central differences against the model's gradient: for each named tensor, its element with the
 * largest gradient (where the check means most) and two others drawn at random, (L(θ + ε) −
 * L(θ − ε)) / 2ε must agree with it. Float precision bounds how close: the loss is about 5.5 in
 * float, so a difference over 2ε = 0.02 is good to about 1e-5 absolute.
 */
final class GradientCheck {
  private GradientCheck() {}

  static void check(ModelConfig config, int[][] windows, List<String> tensors) {
    check(config, windows, tensors, 0.02);
  }

  /**
   * As above, to within {@code relative} of the gradient (and 1e-4): 0.02 for smooth models; a
   * ReLU's kinks, which a difference over 2ε may cross, need more.
   */
  static void check(ModelConfig config, int[][] windows, List<String> tensors, double relative) {
    LanguageModel model = LanguageModel.of(config, windows.length, 11);
    int n = (int) model.layout().totalElements();
    float[] params = new float[n];
    model.parameters(params);
    // Weights larger than at initialisation, so that every gradient is far from zero.
    SplittableRandom random = new SplittableRandom(4);
    for (int i = 0; i < n; i++) {
      params[i] += (float) random.nextDouble(-0.3, 0.3);
    }
    model.setParameters(params);
    float[] grad = new float[n];
    model.lossAndGradient(windows, grad);

    float eps = 1e-2f;
    for (String tensor : tensors) {
      ParameterLayout.Tensor t = model.layout().tensor(tensor);
      int largest = (int) t.offset();
      for (int i = (int) t.offset(); i < t.offset() + t.elementCount(); i++) {
        largest = Math.abs(grad[i]) > Math.abs(grad[largest]) ? i : largest;
      }
      assertThat(Math.abs(grad[largest])).as("the gradient of %s is not zero", tensor)
          .isGreaterThan(1e-4f);
      for (int at : new int[] {largest, (int) (t.offset() + random.nextLong(t.elementCount())),
          (int) (t.offset() + random.nextLong(t.elementCount()))}) {
        float was = params[at];
        params[at] = was + eps;
        model.setParameters(params);
        double up = model.loss(windows);
        params[at] = was - eps;
        model.setParameters(params);
        double down = model.loss(windows);
        params[at] = was;
        model.setParameters(params);
        double numeric = (up - down) / (2 * eps);
        assertThat(numeric).as("d loss / d %s[%d]: the model says %s", tensor, at - t.offset(),
            grad[at]).isCloseTo(grad[at], Offset.offset(1e-4 + relative * Math.abs(grad[at])));
      }
    }
  }
}
