package dev.diloco.audit;

import dev.diloco.audit.RunRecords.Entry;
import dev.diloco.audit.TopicReader.Location;
import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.rules.PublishedChunks.Slice;
import dev.diloco.core.rules.PublishedChunks;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.OptimizerStateChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.WeightsChunk;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;

/**
 * A round's weights as the optimizer published them, every record of the round checked by
 * {@link PublishedChunks} (as workers load them), and their comparison, bit for bit, with the
 * weights and momentum a replay computed.
 */
final class PublishedRound {

  /**
   * One weights record of the round: its values, or why it does not check out; {@code named}:
   * it is the one the round's commit names (the first valid one of its chunk from the commit's
   * offset), which the workers load.
   */
  private record Published(int chunk, Location at, float[] values, String error,
      boolean named) {}

  private final RunRecords run;
  private final ChunkPlan plan;
  private final int round;
  /** The committed vector: each chunk's first valid record at or after the commit's offset. */
  final float[] weights;
  private final BitSet committed = new BitSet();
  private final List<Published> records = new ArrayList<>();

  private PublishedRound(RunRecords run, ChunkPlan plan, int round) {
    this.run = run;
    this.plan = plan;
    this.round = round;
    this.weights = new float[Math.toIntExact(plan.totalElements())];
  }

  /** Reads every weights record of {@code commit}'s round. */
  static PublishedRound read(RunRecords run, TopicReader reader, ChunkPlan plan,
      ChunkDecoder decoder, RoundCommit commit) {
    PublishedRound published = new PublishedRound(run, plan, commit.getRound());
    AvroSerde<WeightsChunk> serde = AvroSerde.of(WeightsChunk.class);
    reader.fetch(run.weights(commit.getRound()).stream().map(Entry::at).toList(), record -> {
      Location at = Location.of(record);
      WeightsChunk w = serde.decode(record.value()); // indexed: it decodes
      Verdict<Slice> slice = PublishedChunks.weights(plan, decoder, w);
      if (slice instanceof Verdict.Reject<Slice> bad) {
        published.records.add(new Published(w.getChunkIndex(), at, null, bad.message(), false));
        return;
      }
      boolean named = record.offset() >= commit.getWeightsOffset()
          && !published.committed.get(w.getChunkIndex());
      published.records.add(new Published(w.getChunkIndex(), at, slice.value().values(), null,
          named));
      if (named) {
        slice.value().copyInto(published.weights);
        published.committed.set(w.getChunkIndex());
      }
    });
    return published;
  }

  /** Whether every chunk has a valid record at or after the commit's offset. */
  boolean complete() {
    return committed.cardinality() == plan.chunkCount();
  }

  /** Each chunk missing, each record that fails its checks or differs from {@code expected}. */
  void compare(RoundCommit commit, float[] expected, List<Replay.Finding> findings) {
    for (int c = committed.nextClearBit(0); c < plan.chunkCount();
        c = committed.nextClearBit(c + 1)) {
      findings.add(new Replay.Finding(round, c, "no valid weights chunk at or after the commit's "
          + "offset " + commit.getWeightsOffset() + " in " + run.topics().weights()));
    }
    for (Published p : records) {
      String where = "the weights chunk at offset " + p.at().offset() + (p.named() ? ""
          : " (not one the round's commit names: those start at offset "
              + commit.getWeightsOffset() + ")");
      if (p.error() != null) {
        findings.add(new Replay.Finding(round, p.chunk(), where + " fails its checks: "
            + p.error()));
        continue;
      }
      ChunkRange range = plan.range(p.chunk());
      int base = Math.toIntExact(range.offset());
      int first = -1;
      int differing = 0;
      for (int i = 0; i < p.values().length; i++) {
        if (Float.floatToRawIntBits(p.values()[i]) != Float.floatToRawIntBits(expected[base + i])) {
          differing++;
          first = first < 0 ? i : first;
        }
      }
      if (differing > 0) {
        findings.add(new Replay.Finding(round, p.chunk(), where + " differs from the replayed "
            + "weights at " + differing + " of " + p.values().length + " elements (first: "
            + "element " + first + ", published " + p.values()[first] + ", replayed "
            + expected[base + first] + ")"));
      }
    }
  }

  /** The optimizer's momentum of the round, where the compacted state topic kept it. */
  static void compareMomentum(RunRecords run, TopicReader reader, ChunkPlan plan,
      ChunkDecoder decoder, int round, float[] expected, List<Replay.Finding> findings) {
    AvroSerde<OptimizerStateChunk> serde = AvroSerde.of(OptimizerStateChunk.class);
    reader.fetch(run.momentum(round).stream().map(Entry::at).toList(), record -> {
      OptimizerStateChunk s = serde.decode(record.value()); // indexed: it decodes
      Verdict<Slice> slice = PublishedChunks.momentum(plan, decoder, s);
      String where = "the optimizer's momentum at offset " + record.offset();
      if (slice instanceof Verdict.Reject<Slice> bad) {
        findings.add(new Replay.Finding(round, s.getChunkIndex(), where + " fails its checks: "
            + bad.message()));
        return;
      }
      ChunkRange range = slice.value().range();
      int from = Math.toIntExact(range.offset());
      if (!Arrays.equals(slice.value().values(), 0, range.count(), expected, from,
          from + range.count())) {
        findings.add(new Replay.Finding(round, range.index(), where + " of "
            + run.topics().optimizerState() + " differs from the replayed momentum"));
      }
    });
  }
}
