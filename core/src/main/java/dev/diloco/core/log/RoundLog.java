package dev.diloco.core.log;

import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.PartitionReader;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.core.rules.PublishedChunks.Slice;
import dev.diloco.core.rules.PublishedChunks;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OptimizerStateChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.WeightsChunk;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a run's committed rounds back from its topics, with read_committed consumers: the
 * model description, the newest round commit, a round's weights with every chunk checked
 * ({@link PublishedChunks}) and the whole vector's SHA-256 checked against the commit, and the
 * optimizer's momentum of a round. Workers load rounds with it, the optimizer resumes with it,
 * export and the local run read weights with it.
 */
public final class RoundLog {

  private static final Logger LOG = LoggerFactory.getLogger(RoundLog.class);

  private final RunTopics topics;
  private final KafkaClientConfig clients;
  private final Duration timeout;
  private final AvroSerde<RoundCommit> commitSerde = AvroSerde.of(RoundCommit.class);
  private final AvroSerde<WeightsChunk> weightsSerde = AvroSerde.of(WeightsChunk.class);
  private final AvroSerde<OptimizerStateChunk> stateSerde = AvroSerde.of(OptimizerStateChunk.class);
  private final AvroSerde<ModelDescription> modelSerde = AvroSerde.of(ModelDescription.class);
  private ModelDescription description;
  private long describedAtMs = -1;
  private long bytesRead;

  /** {@code timeout}: how long any one read may take before it fails. */
  public RoundLog(RunTopics topics, KafkaClientConfig clients, Duration timeout) {
    this.topics = topics;
    this.clients = clients;
    this.timeout = timeout;
  }

  /**
   * The run's model description, if it has been published: the first one on the topic (its
   * optimizer writes it once, with round 0), which holds the key its commits are signed with.
   * A later description that differs is not the run's.
   */
  public Optional<ModelDescription> model() {
    ModelDescription[] first = {null};
    readToEnd(new TopicPartition(topics.model(), 0), 0, r -> {
      ModelDescription d = decodeOrSkip(modelSerde, r);
      if (d != null && d.getRunId().equals(topics.runId())) {
        if (first[0] == null) {
          first[0] = d;
          describedAtMs = r.timestamp();
        } else if (!d.equals(first[0])) {
          LOG.warn("ignoring a second description of run {} at offset {}: the first counts",
              topics.runId(), r.offset());
        }
      }
      return true;
    });
    return Optional.ofNullable(first[0]);
  }

  /**
   * When the run's description was written (its record's timestamp), or -1 before it was: a
   * run id started again, on new topics, is another run, told apart by this.
   */
  public long describedAtMs() {
    if (describedAtMs < 0) {
      model();
    }
    return describedAtMs;
  }

  /** The newest committed round of the run, if any, among the commits that verify. */
  public Optional<RoundCommit> latestCommit() {
    RoundCommit[] last = {null};
    readToEnd(new TopicPartition(topics.commits(), 0), 0, r -> {
      RoundCommit c = runsCommit(r);
      if (c != null && (last[0] == null || c.getRound() > last[0].getRound())) {
        last[0] = c;
      }
      return true;
    });
    return Optional.ofNullable(last[0]);
  }

  /** The commit of {@code round}, if that round was committed: the first that verifies. */
  public Optional<RoundCommit> commit(int round) {
    RoundCommit[] found = {null};
    readToEnd(new TopicPartition(topics.commits(), 0), 0, r -> {
      RoundCommit c = runsCommit(r);
      if (c != null && c.getRound() == round) {
        found[0] = c;
        return false;
      }
      return true;
    });
    return Optional.ofNullable(found[0]);
  }

  /** The run's commit in {@code r}, or null: unreadable, another run's, or not signed by it. */
  private RoundCommit runsCommit(ConsumerRecord<byte[], byte[]> r) {
    RoundCommit c = decodeOrSkip(commitSerde, r);
    if (c == null || !c.getRunId().equals(topics.runId())) {
      return null;
    }
    Verdict<RoundCommit> verdict = CommitSignatures.check(description(), c);
    if (verdict instanceof Verdict.Reject<RoundCommit> bad) {
      LOG.warn("ignoring the commit at offset {} of {}: {}", r.offset(), topics.commits(),
          bad.detail());
      return null;
    }
    return c;
  }

  /** The run's description, read once: the key its commits must verify with. */
  private ModelDescription description() {
    if (description == null) {
      description = model().orElseThrow(() -> new IllegalStateException("run "
          + topics.runId() + " has commits but no model description on " + topics.model()));
    }
    return description;
  }

  /**
   * The weights of a committed round, checked chunk by chunk and as a whole against its
   * commit, whose signature is checked too.
   */
  public float[] weights(RoundCommit commit, ChunkPlan plan) {
    int round = commit.getRound();
    if (CommitSignatures.check(description(), commit) instanceof Verdict.Reject<RoundCommit> bad) {
      throw new CorruptRoundException(round, -1, bad.detail());
    }
    if (commit.getTotalElements() != plan.totalElements()
        || commit.getChunkCount() != plan.chunkCount()) {
      throw new CorruptRoundException(round, -1, "the commit says " + commit.getTotalElements()
          + " elements in " + commit.getChunkCount() + " chunks, the layout says "
          + plan.totalElements() + " in " + plan.chunkCount());
    }
    long from = Math.max(0, commit.getWeightsOffset());
    Function<ConsumerRecord<byte[], byte[]>, Found> ofRound = r -> {
      WeightsChunk w = decodeOrSkip(weightsSerde, r);
      return w == null || !w.getRunId().equals(topics.runId()) || w.getRound() != round
          ? null : new Found(w.getChunkIndex(), d -> PublishedChunks.weights(plan, d, w));
    };
    ChunkCandidates first = readChunks(topics.weights(), from, plan, ofRound, -1);
    float[] weights = complete(first, plan, "the weights", topics.weights(), round);
    byte[] expected = Checksums.sha256Of(commit);
    byte[] sha = Checksums.sha256(weights);
    if (Arrays.equals(sha, expected)) {
      return weights;
    }
    // A well-formed chunk of the round that is not the commit's may lie among the optimizer's:
    // every chunk of the round near them, and the choice the commit's hash names.
    ChunkCandidates all = readChunks(topics.weights(), from, plan, ofRound,
        2L * plan.chunkCount() + 64);
    float[] matching = all.matching(weights.length, expected);
    if (matching != null) {
      LOG.warn("run {}: round {}: passed over weights chunks at offsets {} of {}: they are not "
          + "the ones its commit's SHA-256 names", topics.runId(), round, all.others(matching),
          topics.weights());
      return matching;
    }
    throw new CorruptRoundException(round, -1, "the weights' SHA-256 is "
        + HexFormat.of().formatHex(sha) + ", the commit says "
        + HexFormat.of().formatHex(expected));
  }

  /**
   * The optimizer's momentum after round {@code round}, from its compacted state topic, every
   * chunk checked; a missing or bad chunk is a {@link CorruptRoundException}.
   */
  public float[] momentum(int round, ChunkPlan plan) {
    ChunkCandidates chunks = readChunks(topics.optimizerState(), 0, plan, r -> {
      OptimizerStateChunk s = decodeOrSkip(stateSerde, r);
      return s == null || !s.getRunId().equals(topics.runId()) || s.getRound() != round
          ? null : new Found(s.getChunkIndex(), d -> PublishedChunks.momentum(plan, d, s));
    }, -1);
    return complete(chunks, plan, "the optimizer's momentum", topics.optimizerState(), round);
  }

  /** Bytes of the weights and momentum records read so far: what a worker downloads. */
  public long bytesRead() {
    return bytesRead;
  }

  /** A record of the round sought: its chunk index, and how to check and decode it. */
  private record Found(int chunk, Function<ChunkDecoder, Verdict<Slice>> slice) {}

  /**
   * The chunks of a vector on {@code topic} from offset {@code from} that {@code ofRound} finds
   * of the round, each checked: a chunk that fails is passed over (whoever may write the topic
   * may write one), its reason kept. With {@code records} < 0, the first good chunk of each
   * index, until every index has one; else every good chunk among the next {@code records} of
   * the round.
   */
  private ChunkCandidates readChunks(String topic, long from, ChunkPlan plan,
      Function<ConsumerRecord<byte[], byte[]>, Found> ofRound, long records) {
    ChunkCandidates chunks = new ChunkCandidates(plan.chunkCount());
    long[] seen = {0};
    try (ChunkDecoder decoder = new ChunkDecoder(plan.chunkElements())) {
      readToEnd(new TopicPartition(topic, 0), from, r -> {
        bytesRead += r.value() == null ? 0 : r.value().length;
        Found found = ofRound.apply(r);
        if (found == null || (records < 0 && chunks.has(found.chunk()))) {
          return true;
        }
        seen[0]++;
        Verdict<Slice> slice = found.slice().apply(decoder);
        if (slice instanceof Verdict.Reject<Slice> bad) {
          LOG.warn("passing over the chunk at offset {} of {}: {}", r.offset(), topic,
              bad.message());
          chunks.refuse(found.chunk(), bad.message());
        } else {
          chunks.add(found.chunk(), r.offset(), slice.value());
        }
        return records < 0 ? chunks.missing() >= 0 : seen[0] < records;
      });
    }
    return chunks;
  }

  /** The vector of the first chunk of each index; a missing index is the round's fault. */
  private float[] complete(ChunkCandidates chunks, ChunkPlan plan, String what, String topic,
      int round) {
    int missing = chunks.missing();
    if (missing >= 0) {
      String refused = chunks.refusal(missing);
      throw new CorruptRoundException(round, missing, refused != null
          ? (topic.equals(topics.weights()) ? "" : what + " chunk: ") + refused
          : what + " chunk is missing from " + topic);
    }
    return chunks.first(Math.toIntExact(plan.totalElements()));
  }

  /**
   * Feeds {@code handler} the committed records of one partition from {@code from} up to its
   * end as it stands now, until the handler returns false.
   */
  public void readToEnd(TopicPartition partition, long from,
      Predicate<ConsumerRecord<byte[], byte[]>> handler) {
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(clients.scanner(),
        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      PartitionReader.read(consumer, partition, from, Long.MAX_VALUE, timeout, handler);
    }
  }

  private static <T extends org.apache.avro.specific.SpecificRecord> T decodeOrSkip(
      AvroSerde<T> serde, ConsumerRecord<byte[], byte[]> r) {
    if (r.value() == null) {
      return null;
    }
    try {
      return serde.decode(r.value());
    } catch (SerializationException e) {
      LOG.warn("skipping an unreadable record at {}-{}@{}: {}", r.topic(), r.partition(),
          r.offset(), e.getMessage());
      return null;
    }
  }

  /**
   * Fails, naming every problem, unless run {@code topics} is ready on the cluster for its own
   * chunk size, from its description ({@link Topics#requireReady}); a run not started yet has
   * its topics' existence and partitions checked, and its optimizer checks the rest.
   */
  public static void requireReady(KafkaClientConfig clients, RunTopics topics) {
    Topics.requireReady(clients, topics, 1);
    new RoundLog(topics, clients, KafkaClientConfig.READ_TIMEOUT).model().ifPresent(d ->
        Topics.requireReady(clients, topics, d.getLayout().getChunkElements()));
  }
}
