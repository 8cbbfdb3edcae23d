package dev.diloco.audit;

import dev.diloco.audit.TopicReader.Location;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.RecordPlace;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.core.rules.CheckedChunk;
import dev.diloco.core.rules.ChunkRules;
import dev.diloco.core.rules.Records;
import dev.diloco.core.rules.RoundWindow;
import dev.diloco.core.rules.Verdict;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.PseudoGradientChunk;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * One round's sums recomputed from the recorded pseudo-gradient chunks, as the reducer made
 * them: a chunk the reducer dead-lettered stays out, for the reason it gave (it decided with
 * what only it knew: its bound, its deadline, who had joined); every other gets its verdict
 * from {@link ChunkRules} (the reducer's own checks), the round seen whole
 * ({@link RoundWindow#replayed}) with the workers the recorded sum of each chunk names as its
 * members, and the first accepted chunk of each worker enters the {@link ExactSum}, as the
 * reducer counted the first. Fed one record at a time, in log order per partition; no Kafka of
 * its own.
 */
final class ReplayedReduction implements AutoCloseable {

  private final int round;
  private final ChunkPlan plan;
  private final ElementCodec codec;
  /** Per chunk, the workers its recorded sum names; a chunk without one takes everyone. */
  private final Map<Integer, Set<String>> named;
  private final int partitions;
  /** The reducer's dead letters, by where the record they refused lies. */
  private final Map<RecordPlace, DeadLetter> refused;
  private final ChunkRules rules;
  private final AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);

  final Map<Integer, ExactSum> sums = new HashMap<>();
  /** Where each contribution that entered a sum lies, by {@link #key}. */
  final Map<String, Location> used = new HashMap<>();
  final Map<String, Long> tokens = new HashMap<>();
  /** Why a contributor's chunk fails its checks now, by {@link #key}: the first such chunk. */
  final Map<String, Rejected> rejected = new HashMap<>();

  /** A chunk the rules rejected, and where it lies. */
  record Rejected(Verdict.Reject<?> verdict, Location at) {
    @Override
    public String toString() {
      return at.topic() + ", partition " + at.partition() + ", offset " + at.offset() + ": "
          + verdict.message();
    }
  }

  /**
   * Round {@code round}'s reduction; {@code partitions}: of the chunk topics (0: not checked);
   * {@code refused}: the reducer's dead letters.
   */
  ReplayedReduction(RunTopics topics, int round, ChunkPlan plan, ElementCodec codec,
      int partitions, Map<Integer, Set<String>> named, Map<RecordPlace, DeadLetter> refused) {
    this.round = round;
    this.plan = plan;
    this.codec = codec;
    this.partitions = partitions;
    this.named = named;
    this.refused = refused;
    this.rules = new ChunkRules(topics);
  }

  /** The key of a contribution: its chunk and worker. */
  static String key(int chunk, String worker) {
    return chunk + "/" + worker;
  }

  /** Whether the recorded sum of {@code chunk} names {@code worker}, or there is none. */
  boolean wanted(int chunk, String worker) {
    return !named.containsKey(chunk) || named.get(chunk).contains(worker);
  }

  /**
   * Adds one recorded pseudo-gradient chunk, read from {@code at}; returns its verdict. A
   * second chunk of a worker is a DUPLICATE, as the reducer counted the first.
   */
  Verdict<CheckedChunk> add(Location at, byte[] value) {
    Verdict<PseudoGradientChunk> decoded = Records.decode(serde, value);
    if (decoded instanceof Verdict.Reject<PseudoGradientChunk> bad) {
      return bad.as();
    }
    PseudoGradientChunk chunk = decoded.value();
    String key = key(chunk.getChunkIndex(), chunk.getWorkerId());
    DeadLetter letter = refused.get(new RecordPlace(at.topic(), at.partition(), at.offset()));
    if (letter != null) {
      return Verdict.reject(letter.getReason(), "the reducer refused it: " + letter.getDetail());
    }
    Set<String> members = named.getOrDefault(chunk.getChunkIndex(), Set.of(chunk.getWorkerId()));
    Verdict<CheckedChunk> verdict = rules.check(at.topic(), at.partition(), chunk,
        RoundWindow.replayed(round, plan, codec, partitions, members)).then(c -> {
          try {
            sums.computeIfAbsent(c.range().index(),
                i -> ExactSum.create(codec, c.range().count())).add(chunk.getWorkerId(),
                c.canonical());
          } catch (ChunkRejectedException duplicate) {
            return Verdict.of(duplicate);
          }
          return Verdict.accept(c);
        });
    if (verdict.accepted()) {
      used.put(key, at);
      tokens.put(key, chunk.getTokens());
      rejected.remove(key);
    } else if (verdict instanceof Verdict.Reject<CheckedChunk> bad && !used.containsKey(key)) {
      rejected.putIfAbsent(key, new Rejected(bad, at));
    }
    return verdict;
  }

  @Override
  public void close() {
    rules.close();
  }
}
