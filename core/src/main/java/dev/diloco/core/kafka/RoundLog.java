package dev.diloco.core.kafka;

import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.ChunkRejectedException;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.WeightsChunk;
import java.time.Duration;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
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
 * model description, the newest round commit, and a round's weights with every chunk's CRC and
 * the whole vector's SHA-256 checked against the commit. Workers load rounds with it, the
 * optimizer rebuilds its state with it, replay audits with it.
 */
public final class RoundLog {

  private static final Logger LOG = LoggerFactory.getLogger(RoundLog.class);

  private final RunTopics topics;
  private final KafkaClientConfig clients;
  private final Duration timeout;
  private final AvroSerde<RoundCommit> commitSerde = AvroSerde.of(RoundCommit.class);
  private final AvroSerde<WeightsChunk> weightsSerde = AvroSerde.of(WeightsChunk.class);
  private final AvroSerde<ModelDescription> modelSerde = AvroSerde.of(ModelDescription.class);

  /** {@code timeout}: how long any one read may take before it fails. */
  public RoundLog(RunTopics topics, KafkaClientConfig clients, Duration timeout) {
    this.topics = topics;
    this.clients = clients;
    this.timeout = timeout;
  }

  /** The run's model description, if it has been published. */
  public Optional<ModelDescription> model() {
    ModelDescription[] last = {null};
    readToEnd(new TopicPartition(topics.model(), 0), 0, r -> {
      ModelDescription d = decodeOrSkip(modelSerde, r);
      if (d != null && d.getRunId().equals(topics.runId())) {
        last[0] = d;
      }
      return true;
    });
    return Optional.ofNullable(last[0]);
  }

  /** The newest committed round of the run, if any. */
  public Optional<RoundCommit> latestCommit() {
    RoundCommit[] last = {null};
    readToEnd(new TopicPartition(topics.commits(), 0), 0, r -> {
      RoundCommit c = decodeOrSkip(commitSerde, r);
      if (c != null && c.getRunId().equals(topics.runId())
          && (last[0] == null || c.getRound() > last[0].getRound())) {
        last[0] = c;
      }
      return true;
    });
    return Optional.ofNullable(last[0]);
  }

  /** The commit of {@code round}, if that round was committed. */
  public Optional<RoundCommit> commit(int round) {
    RoundCommit[] found = {null};
    readToEnd(new TopicPartition(topics.commits(), 0), 0, r -> {
      RoundCommit c = decodeOrSkip(commitSerde, r);
      if (c != null && c.getRunId().equals(topics.runId()) && c.getRound() == round) {
        found[0] = c;
        return false;
      }
      return true;
    });
    return Optional.ofNullable(found[0]);
  }

  /** The weights of a committed round, checked chunk by chunk and as a whole against it. */
  public float[] weights(RoundCommit commit, ChunkPlan plan) {
    int round = commit.getRound();
    if (commit.getTotalElements() != plan.totalElements()
        || commit.getChunkCount() != plan.chunkCount()) {
      throw new CorruptRoundException(round, -1, "the commit says " + commit.getTotalElements()
          + " elements in " + commit.getChunkCount() + " chunks, the layout says "
          + plan.totalElements() + " in " + plan.chunkCount());
    }
    float[] weights = new float[Math.toIntExact(plan.totalElements())];
    BitSet seen = new BitSet(plan.chunkCount());
    try (ChunkDecoder decoder = new ChunkDecoder(plan.chunkElements())) {
      long from = Math.max(0, commit.getWeightsOffset());
      readToEnd(new TopicPartition(topics.weights(), 0), from, r -> {
        WeightsChunk w = decodeOrSkip(weightsSerde, r);
        if (w == null || !w.getRunId().equals(topics.runId()) || w.getRound() != round) {
          return true;
        }
        int index = w.getChunkIndex();
        try {
          ChunkRange range = plan.check(index, w.getChunkCount(), w.getElementOffset(),
              w.getElementCount());
          PayloadFormat format = PayloadFormat.of(w.getEncoding(),
              Compression.NONE, false);
          decoder.decode(w.getPayload(), format, range.count(), w.getCrc32c(), weights,
              (int) range.offset());
        } catch (ChunkRejectedException e) {
          throw new CorruptRoundException(round, index, e.getMessage());
        }
        seen.set(index);
        return seen.cardinality() < plan.chunkCount();
      });
    }
    if (seen.cardinality() < plan.chunkCount()) {
      throw new CorruptRoundException(round, seen.nextClearBit(0),
          "the weights chunk is missing from " + topics.weights());
    }
    byte[] sha = Checksums.sha256(weights);
    byte[] expected = new byte[commit.getWeightsSha256().remaining()];
    commit.getWeightsSha256().duplicate().get(expected);
    if (!Arrays.equals(sha, expected)) {
      throw new CorruptRoundException(round, -1, "the weights' SHA-256 is "
          + HexFormat.of().formatHex(sha) + ", the commit says " + HexFormat.of().formatHex(expected));
    }
    return weights;
  }

  /**
   * Feeds {@code handler} the committed records of one partition from {@code from} up to its
   * end as it stands now, until the handler returns false.
   */
  public void readToEnd(TopicPartition partition, long from,
      Predicate<ConsumerRecord<byte[], byte[]>> handler) {
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(clients.consumer(null),
        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      consumer.assign(List.of(partition));
      long end = consumer.endOffsets(List.of(partition), timeout).get(partition);
      if (end <= from) {
        return;
      }
      consumer.seek(partition, from);
      long deadline = System.nanoTime() + timeout.toNanos();
      while (consumer.position(partition, timeout) < end) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("reading " + partition + " up to offset " + end
              + " took longer than " + timeout);
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          if (r.offset() >= end || !handler.test(r)) {
            return;
          }
        }
      }
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
}
