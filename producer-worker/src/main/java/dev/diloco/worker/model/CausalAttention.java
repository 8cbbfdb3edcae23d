package dev.diloco.worker.model;

import dev.diloco.worker.ModelConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Causal attention between a block's two products (qkv in, the heads' outputs before the output
 * product out), forward and backward: Llama's rotary positions on q and k (Hugging Face's
 * rotate-half convention) when there are rope tables, causal softmax(q·kᵀ / √hd)·v, with
 * grouped-query heads (GPT-2's: one key-value head a query head). Query heads h of one key-value head
 * (h / (H / KV)) are consecutive, so a group's queries are one [H/KV · T, hd] matrix against
 * its keys [T, hd]: one batched product over the B·KV groups, and no key or value is copied
 * per query head. Holds what its backward pass reads (q, k, v, the probabilities).
 */
final class CausalAttention {
  private final int batch;
  private final int t;
  private final int h;
  private final int kv;
  private final int hd;
  private final float scale;
  private final Rope.Planes rope; // or null: no rotary positions
  private final INDArray q; // [B·KV, H/KV·T, hd]: [B, H, T, hd], rotated
  private final INDArray k; // [B·KV, T, hd], rotated
  private final INDArray v; // [B·KV, T, hd]
  private final INDArray p; // [B·KV, H/KV·T, T]: the probabilities
  private final INDArray y; // [B·KV, H/KV·T, hd]: the heads' outputs
  // The loops' arrays on the heap, kept: a step would otherwise allocate each of them per block
  private final float[] rows; // [B*T · (H+2KV)·hd]: qkv or its gradient
  private final float[][] parts; // q, k, v or their gradients, as the arrays above
  private final float[] mergedRows; // [B*T · H·hd]: merged heads or their gradient

  /** Arrays the backward passes of all blocks share: each block's pass overwrites them. */
  record Scratch(INDArray dy, INDArray dp, INDArray dq, INDArray dk, INDArray dv) {
    static Scratch of(ModelConfig cfg, int batch) {
      int g = batch * cfg.kvHeads();
      int rt = cfg.heads() / cfg.kvHeads() * cfg.contextLength();
      int t = cfg.contextLength();
      int hd = cfg.headDim();
      return new Scratch(Nd4j.create(DataType.FLOAT, g, rt, hd),
          Nd4j.create(DataType.FLOAT, g, rt, t), Nd4j.create(DataType.FLOAT, g, rt, hd),
          Nd4j.create(DataType.FLOAT, g, t, hd), Nd4j.create(DataType.FLOAT, g, t, hd));
    }
  }

  /** With {@code rope} cos and sin [T·hd] ({@link Rope#table}), or null for none. */
  CausalAttention(ModelConfig cfg, int batch, float[][] rope) {
    this.batch = batch;
    this.t = cfg.contextLength();
    this.h = cfg.heads();
    this.kv = cfg.kvHeads();
    this.hd = cfg.headDim();
    this.scale = (float) (1 / Math.sqrt(hd));
    this.rope = rope == null ? null : new Rope.Planes(rope, hd);
    int g = batch * kv;
    int rt = h / kv * t;
    q = Nd4j.create(DataType.FLOAT, g, rt, hd);
    k = Nd4j.create(DataType.FLOAT, g, t, hd);
    v = Nd4j.create(DataType.FLOAT, g, t, hd);
    p = Nd4j.create(DataType.FLOAT, g, rt, t);
    y = Nd4j.create(DataType.FLOAT, g, rt, hd);
    rows = new float[batch * t * (h + 2 * kv) * hd];
    parts = new float[][] {new float[(int) q.length()], new float[(int) k.length()],
        new float[(int) v.length()]};
    mergedRows = new float[batch * t * h * hd];
  }

  /** The heads' outputs side by side, merged [B*T, H·hd], of qkv [B*T, (H+2KV)·hd]. */
  void forward(INDArray qkv, INDArray merged) {
    Rows.floats(qkv).get(0, rows);
    split(rows, parts, false);
    Rows.write(parts[0], q);
    Rows.write(parts[1], k);
    Rows.write(parts[2], v);
    Blas.batched(q, k, p, false, true, scale); // scores q·kᵀ/√hd [B·KV, H/KV·T, T]
    Softmax.causal(p);
    Blas.batched(p, v, y, false, false, 1f); // [B·KV, H/KV·T, hd] = [B, H, T, hd]
    Rows.floats(y).get(0, parts[0]); // y is q's shape
    heads(parts[0], mergedRows, true);
    Rows.write(mergedRows, merged);
  }

  /** d qkv [B*T, (H+2KV)·hd] of d merged [B*T, H·hd], for the last {@link #forward}. */
  void backward(INDArray dMerged, INDArray dQkv, Scratch s) {
    Rows.floats(dMerged).get(0, mergedRows);
    heads(parts[0], mergedRows, false); // d y, q's shape
    Rows.write(parts[0], s.dy());
    Blas.batched(s.dy(), v, s.dp(), false, true, 1f); // d probabilities [B·KV, H/KV·T, T]
    Blas.batched(p, s.dy(), s.dv(), true, false, 1f); // Pᵀ·dY, over the group's heads
    Softmax.causalBackward(p, s.dp()); // d scores
    Blas.batched(s.dp(), k, s.dq(), false, false, scale); // [B·KV, H/KV·T, hd]
    Blas.batched(s.dp(), q, s.dk(), true, false, scale); // [B·KV, T, hd]
    Rows.floats(s.dq()).get(0, parts[0]);
    Rows.floats(s.dk()).get(0, parts[1]);
    Rows.floats(s.dv()).get(0, parts[2]);
    split(rows, parts, true);
    Rows.write(rows, dQkv);
  }

  /**
   * Between qkv [B*T, (H+2KV)·hd] and its parts q [B, H, T, hd], k and v [B, KV, T, hd]: q and
   * k rotated on the way to the parts, and by the transpose on the way back (1/√hd is the
   * products' factor, not a pass of its own).
   */
  private void split(float[] qkv, float[][] parts, boolean back) {
    if (back && rope != null) {
      rope.backward(parts[0], batch * h);
      rope.backward(parts[1], batch * kv);
    }
    int width = (h + 2 * kv) * hd;
    for (int b = 0; b < batch; b++) {
      for (int i = 0; i < t; i++) {
        for (int n = 0; n < h + 2 * kv; n++) {
          int part = n < h ? 0 : n < h + kv ? 1 : 2;
          int head = n - (part == 0 ? 0 : part == 1 ? h : h + kv);
          int at = (b * t + i) * width + n * hd;
          int to = ((b * (part == 0 ? h : kv) + head) * t + i) * hd;
          if (!back) {
            System.arraycopy(qkv, at, parts[part], to, hd);
          } else {
            System.arraycopy(parts[part], to, qkv, at, hd);
          }
        }
      }
    }
    if (!back && rope != null) {
      rope.forward(parts[0], batch * h);
      rope.forward(parts[1], batch * kv);
    }
  }

  /** Between the heads [B, H, T, hd] and their merged rows [B*T, H·hd], either way. */
  private void heads(float[] heads, float[] merged, boolean toMerged) {
    for (int b = 0; b < batch; b++) {
      for (int n = 0; n < h; n++) {
        for (int i = 0; i < t; i++) {
          int at = ((b * h + n) * t + i) * hd;
          int to = ((b * t + i) * h + n) * hd;
          if (toMerged) {
            System.arraycopy(heads, at, merged, to, hd);
          } else {
            System.arraycopy(merged, to, heads, at, hd);
          }
        }
      }
    }
  }
}
