package dev.diloco.core.layout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.schemas.LayoutSpec;
import dev.diloco.schemas.TensorSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

class ParameterLayoutTest {

  private final ParameterLayout layout = ParameterLayout.builder()
      .add("embed", 256, 64)
      .add("blocks.0.attn.wq", 64, 64)
      .add("head.bias", 256)
      .build();

  @Test
  void tensorsLieEndToEnd() {
    assertThat(layout.totalElements()).isEqualTo(256 * 64 + 64 * 64 + 256);
    assertThat(layout.tensor("blocks.0.attn.wq").offset()).isEqualTo(256 * 64);
    assertThat(layout.tensor("head.bias").shape()).containsExactly(256);
  }

  @Test
  void theSpecRoundTripsAndCarriesTheChunking() {
    LayoutSpec spec = layout.toSpec(1000);
    assertThat(spec.getChunkCount()).isEqualTo(21); // 20736 elements in chunks of 1000
    assertThat(ParameterLayout.fromSpec(spec)).isEqualTo(layout);
  }

  @Test
  void aSpecThatContradictsItselfIsRefused() {
    LayoutSpec good = layout.toSpec(1000);
    LayoutSpec spec = LayoutSpec.newBuilder(good).setTotalElements(good.getTotalElements() + 1)
        .build();
    assertThatThrownBy(() -> ParameterLayout.fromSpec(spec)).hasMessageContaining("add up to");

    LayoutSpec chunks = LayoutSpec.newBuilder(good).setChunkCount(20).build();
    assertThatThrownBy(() -> ParameterLayout.fromSpec(chunks)).hasMessageContaining("make 21");

    LayoutSpec gap = new LayoutSpec(List.of(
        new TensorSpec("a", List.of(4), 0L, 4L), new TensorSpec("b", List.of(4), 5L, 4L)), 9L, 4, 3);
    assertThatThrownBy(() -> ParameterLayout.fromSpec(gap)).hasMessageContaining("contiguous");

    LayoutSpec wrongCount = new LayoutSpec(List.of(
        new TensorSpec("a", List.of(2, 3), 0L, 5L)), 5L, 4, 2);
    assertThatThrownBy(() -> ParameterLayout.fromSpec(wrongCount))
        .hasMessageContaining("has 6 elements, not 5");
  }

  @Test
  void badTensorsAreRefusedWithTheirName() {
    assertThatThrownBy(() -> ParameterLayout.builder().add("w", 4).add("w", 2).build())
        .hasMessageContaining("w appears twice");
    assertThatThrownBy(() -> ParameterLayout.builder().add("w", 4, 0).build())
        .hasMessageContaining("tensor w has dimension 0");
    assertThatThrownBy(() -> ParameterLayout.builder().build())
        .hasMessageContaining("at least one tensor");
    assertThatThrownBy(() -> layout.tensor("nope")).hasMessageContaining("no tensor named nope");
  }
}
