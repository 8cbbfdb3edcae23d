package dev.diloco.audit;

import dev.diloco.audit.TopicReader.Location;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.DeadLetters;
import dev.diloco.core.kafka.RecordPlace;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OptimizerStateChunk;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.WeightsChunk;
import dev.diloco.schemas.WorkerHeartbeat;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.errors.SerializationException;

/**
 * An index of a run's records, read once from its topics: every commit and dead letter in full,
 * and for the chunk topics (pseudo-gradients, sums, weights, momentum) where each chunk lies,
 * not its bytes, so a long run of a large model indexes in little memory and a replay fetches
 * one round's chunks at a time.
 */
public final class RunRecords {

  /** A chunk record: its round, chunk index, worker (pseudo-gradients only) and place. */
  public record Entry(int round, int chunk, String worker, long tokens, Location at) {}

  /** A record in full, with its place in the log. */
  public record Located<T>(T value, Location at) {}

  /** Where a record lies: topic, partition and offset. */

  private final RunTopics topics;
  private ModelDescription model;
  private int chunkPartitions;
  private final List<Located<RoundCommit>> commits = new ArrayList<>();
  private final List<Located<DeadLetter>> deadLetters = new ArrayList<>();
  private final Map<Integer, List<Entry>> pseudoGradients = new TreeMap<>();
  private final Map<Integer, List<Entry>> sums = new TreeMap<>();
  private final Map<Integer, List<Entry>> weights = new TreeMap<>();
  private final Map<Integer, List<Entry>> momentum = new TreeMap<>();
  /** Records that do not decode, or belong to another run, by topic. */
  private final Map<String, Integer> unreadable = new TreeMap<>();

  private RunRecords(RunTopics topics) {
    this.topics = topics;
  }

  /** Reads the index of run {@code topics} from its topics, to their ends as they stand now. */
  public static RunRecords read(RunTopics topics, TopicReader reader) {
    RunRecords run = new RunRecords(topics);
    // The first description is the run's (its optimizer writes it once, with round 0): it
    // holds the key the run's commits are signed with.
    run.scan(reader, topics.model(), ModelDescription.class, ModelDescription::getRunId,
        (d, at) -> run.model = run.model == null ? d : run.model);
    if (run.model == null) {
      throw new IllegalStateException("run " + topics.runId() + " has no model description on "
          + topics.model() + ": it was never started, or this is not its cluster");
    }
    run.scan(reader, topics.commits(), RoundCommit.class, RoundCommit::getRunId,
        (c, at) -> run.commits.add(new Located<>(c, at)));
    run.chunkPartitions = reader.partitions(topics.pseudoGradients()).size();
    // The shared chunk topic, and each worker's own on a cluster with authentication, where
    // the worker's heartbeats lie between its chunks (they are no chunks, nor unreadable).
    AvroSerde<WorkerHeartbeat> heartbeats = AvroSerde.of(WorkerHeartbeat.class);
    for (String topic : reader.topics(topics.pseudoGradientTopics())) {
      run.scan(reader, topic, PseudoGradientChunk.class, PseudoGradientChunk::getRunId,
          heartbeats::isWrittenAs,
          (c, at) -> add(run.pseudoGradients, new Entry(c.getRound(), c.getChunkIndex(),
              c.getWorkerId(), c.getTokens(), at)));
    }
    run.scan(reader, topics.reduced(), ReducedChunk.class, ReducedChunk::getRunId,
        (c, at) -> add(run.sums, new Entry(c.getRound(), c.getChunkIndex(), null, 0, at)));
    run.scan(reader, topics.weights(), WeightsChunk.class, WeightsChunk::getRunId,
        (c, at) -> add(run.weights, new Entry(c.getRound(), c.getChunkIndex(), null, 0, at)));
    run.scan(reader, topics.optimizerState(), OptimizerStateChunk.class,
        OptimizerStateChunk::getRunId,
        (c, at) -> add(run.momentum, new Entry(c.getRound(), c.getChunkIndex(), null, 0, at)));
    run.scan(reader, topics.deadLetters(), DeadLetter.class,
        d -> d.getRunId() == null ? topics.runId() : d.getRunId(),
        (d, at) -> run.deadLetters.add(new Located<>(d, at)));
    return run;
  }

  private interface Sink<T> {
    void accept(T value, Location at);
  }

  private <T extends SpecificRecord> void scan(TopicReader reader, String topic, Class<T> type,
      Function<T, String> runOf, Sink<T> sink) {
    scan(reader, topic, type, runOf, value -> false, sink);
  }

  /** {@code other}: records of another type that the topic may carry, passed over. */
  private <T extends SpecificRecord> void scan(TopicReader reader, String topic, Class<T> type,
      Function<T, String> runOf, java.util.function.Predicate<byte[]> other, Sink<T> sink) {
    AvroSerde<T> serde = AvroSerde.of(type);
    reader.scan(topic, r -> {
      if (other.test(r.value())) {
        return;
      }
      T value = decode(serde, r);
      if (value == null || !topics.runId().equals(runOf.apply(value))) {
        unreadable.merge(topic, 1, Integer::sum);
        return;
      }
      sink.accept(value, Location.of(r));
    });
  }

  private static <T extends SpecificRecord> T decode(AvroSerde<T> serde,
      ConsumerRecord<byte[], byte[]> r) {
    if (r.value() == null) {
      return null;
    }
    try {
      return serde.decode(r.value());
    } catch (SerializationException | IllegalArgumentException | NullPointerException e) {
      return null;
    }
  }

  private static void add(Map<Integer, List<Entry>> index, Entry e) {
    index.computeIfAbsent(e.round(), r -> new ArrayList<>()).add(e);
  }

  public RunTopics topics() {
    return topics;
  }

  public ModelDescription model() {
    return model;
  }

  /** Every commit of the run, in log order. */
  public List<Located<RoundCommit>> commits() {
    return commits;
  }

  /** The commits of {@code round}, in log order: one, unless the log was tampered with. */
  public List<Located<RoundCommit>> commits(int round) {
    return commits.stream().filter(c -> c.value().getRound() == round).toList();
  }

  /** Whether {@code commit} is one of the run's optimizer's (it verifies with the run's key). */
  public boolean verifies(RoundCommit commit) {
    return CommitSignatures.check(model, commit).accepted();
  }

  /**
   * The newest round with a commit that verifies, or -1: a forged commit (of round 2^31 − 1,
   * say) is no round of the run.
   */
  public int lastRound() {
    return commits.stream().map(Located::value).filter(this::verifies)
        .mapToInt(RoundCommit::getRound).max().orElse(-1);
  }

  public List<Located<DeadLetter>> deadLetters() {
    return deadLetters;
  }

  /** Partitions of the run's chunk topics. */
  public int chunkPartitions() {
    return chunkPartitions;
  }

  /** The records the reducer refused (its dead letters), by where they lie. */
  public Map<RecordPlace, DeadLetter> refusedByReducer() {
    return refusedBy(DeadLetters.REDUCER);
  }

  /** The records the optimizer refused (its dead letters, one per round's transaction). */
  public Map<RecordPlace, DeadLetter> refusedByOptimizer() {
    return refusedBy(DeadLetters.OPTIMIZER);
  }

  private Map<RecordPlace, DeadLetter> refusedBy(String service) {
    Map<RecordPlace, DeadLetter> refused = new java.util.HashMap<>();
    for (Located<DeadLetter> l : deadLetters) {
      DeadLetter d = l.value();
      if (service.equals(d.getRejectedBy())) {
        refused.putIfAbsent(RecordPlace.refusedBy(d), d);
      }
    }
    return refused;
  }

  /** Pseudo-gradient chunks of {@code round}, per topic partition in offset order. */
  public List<Entry> pseudoGradients(int round) {
    return pseudoGradients.getOrDefault(round, List.of());
  }

  /** The reducer's sums of {@code round}. */
  public List<Entry> sums(int round) {
    return sums.getOrDefault(round, List.of());
  }

  /** Weights chunks of {@code round}. */
  public List<Entry> weights(int round) {
    return weights.getOrDefault(round, List.of());
  }

  /** Momentum chunks of {@code round}: the state topic is compacted, so mostly the newest. */
  public List<Entry> momentum(int round) {
    return momentum.getOrDefault(round, List.of());
  }

  /** Records that did not decode or were of another run, by topic. */
  public Map<String, Integer> unreadable() {
    return unreadable;
  }

  /** Bytes of a list of chunk records. */
  public static long bytes(List<Entry> entries) {
    return entries.stream().mapToLong(e -> e.at().bytes()).sum();
  }
}
