package dev.diloco.core.layout;

import dev.diloco.schemas.LayoutSpec;
import dev.diloco.schemas.TensorSpec;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The model's parameters as one flat vector: named tensors laid end to end, in a fixed order.
 * Pseudo-gradients, sums and weights are all vectors in this layout.
 */
public record ParameterLayout(List<Tensor> tensors) {

  /** One named tensor at {@code [offset, offset + elementCount)} of the flat vector. */
  public record Tensor(String name, List<Integer> shape, long offset, long elementCount) {
    public Tensor {
      Objects.requireNonNull(name, "name");
      if (name.isBlank()) {
        throw new IllegalArgumentException("tensor name must not be blank");
      }
      shape = List.copyOf(Objects.requireNonNull(shape, "shape"));
      if (shape.isEmpty()) {
        throw new IllegalArgumentException("tensor " + name + " has an empty shape");
      }
      long product = 1;
      for (int d : shape) {
        if (d < 1) {
          throw new IllegalArgumentException("tensor " + name + " has dimension " + d
              + " in shape " + shape + "; every dimension must be >= 1");
        }
        product = Math.multiplyExact(product, d);
      }
      if (product != elementCount) {
        throw new IllegalArgumentException("tensor " + name + " of shape " + shape + " has "
            + product + " elements, not " + elementCount);
      }
      if (offset < 0) {
        throw new IllegalArgumentException("tensor " + name + " has offset " + offset);
      }
    }
  }

  public ParameterLayout {
    tensors = List.copyOf(Objects.requireNonNull(tensors, "tensors"));
    if (tensors.isEmpty()) {
      throw new IllegalArgumentException("a parameter layout needs at least one tensor");
    }
    Set<String> names = new HashSet<>();
    long next = 0;
    for (Tensor t : tensors) {
      if (!names.add(t.name())) {
        throw new IllegalArgumentException("tensor name " + t.name() + " appears twice");
      }
      if (t.offset() != next) {
        throw new IllegalArgumentException("tensor " + t.name() + " starts at " + t.offset()
            + " but the tensors before it end at " + next + "; tensors must be contiguous");
      }
      next += t.elementCount();
    }
  }

  /** Builds a layout by appending tensors in order. */
  public static Builder builder() {
    return new Builder();
  }

  public long totalElements() {
    Tensor last = tensors.get(tensors.size() - 1);
    return last.offset() + last.elementCount();
  }

  public Tensor tensor(String name) {
    return tensors.stream()
        .filter(t -> t.name().equals(name))
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no tensor named " + name));
  }

  /** The tensor that holds element {@code index} of the flat vector. */
  public Tensor tensorAt(long index) {
    return tensors.stream()
        .filter(t -> index >= t.offset() && index < t.offset() + t.elementCount())
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("element " + index + " is outside the "
            + totalElements() + " of the layout"));
  }

  public ChunkPlan chunks(int chunkElements) {
    return new ChunkPlan(totalElements(), chunkElements);
  }

  public LayoutSpec toSpec(int chunkElements) {
    List<TensorSpec> specs = new ArrayList<>(tensors.size());
    for (Tensor t : tensors) {
      specs.add(new TensorSpec(t.name(), t.shape(), t.offset(), t.elementCount()));
    }
    ChunkPlan plan = chunks(chunkElements);
    return new LayoutSpec(specs, totalElements(), chunkElements, plan.chunkCount());
  }

  /** The layout in a model description, checked for consistency with its own totals. */
  public static ParameterLayout fromSpec(LayoutSpec spec) {
    List<Tensor> list = new ArrayList<>(spec.getTensors().size());
    for (TensorSpec t : spec.getTensors()) {
      list.add(new Tensor(t.getName(), t.getShape(), t.getOffset(), t.getElementCount()));
    }
    ParameterLayout layout = new ParameterLayout(list);
    if (layout.totalElements() != spec.getTotalElements()) {
      throw new IllegalArgumentException("layout spec says " + spec.getTotalElements()
          + " elements but its tensors add up to " + layout.totalElements());
    }
    ChunkPlan plan = layout.chunks(spec.getChunkElements());
    if (plan.chunkCount() != spec.getChunkCount()) {
      throw new IllegalArgumentException("layout spec says " + spec.getChunkCount()
          + " chunks but " + spec.getTotalElements() + " elements in chunks of "
          + spec.getChunkElements() + " make " + plan.chunkCount());
    }
    return layout;
  }

  /** The chunks of the layout in a model description, in its chunk size. */
  public static ChunkPlan chunkPlan(LayoutSpec spec) {
    return fromSpec(spec).chunks(spec.getChunkElements());
  }

  /** Appends tensors end to end. */
  public static final class Builder {
    private final List<Tensor> tensors = new ArrayList<>();
    private long next;

    public Builder add(String name, int... shape) {
      List<Integer> dims = new ArrayList<>(shape.length);
      long count = 1;
      for (int d : shape) {
        dims.add(d);
        count = Math.multiplyExact(count, (long) d);
      }
      tensors.add(new Tensor(name, dims, next, count));
      next += count;
      return this;
    }

    public ParameterLayout build() {
      return new ParameterLayout(tensors);
    }
  }
}
