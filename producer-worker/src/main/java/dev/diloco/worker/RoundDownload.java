package dev.diloco.worker;

import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.PartitionReader;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.log.CorruptRoundException;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.OuterStep;
import dev.diloco.core.round.RoundStep;
import dev.diloco.core.round.RoundSums;
import dev.diloco.core.rules.CheckedSum;
import dev.diloco.core.rules.NormBound;
import dev.diloco.core.rules.Records;
import dev.diloco.core.rules.Verdict;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.schemas.OuterMethod;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import dev.diloco.schemas.SumEncoding;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a worker gets the weights of the round it is to train. The outer step is a pure,
 * deterministic function of the previous round's weights and momentum and of the round's exact
 * sums, so a worker that holds round r reads round r's sums (about the codec's bits plus
 * log2(workers) an element) instead of round r + 1's FP32 weights (32 bits an element), takes
 * the optimizer's step itself and checks the result against the commit's SHA-256 (FP16, INT8
 * and INT4 runs: FP32 and BF16 sums are doubles, larger than the weights). On any
 * mismatch, a missing sum, or a worker that does not hold round r (one that joins), it reads
 * the full weights, and the momentum once, as {@link RoundLog} checks them. Not thread-safe.
 */
final class RoundDownload implements AutoCloseable {

  /** A round's weights and the bytes read for them; {@code fromSums}: the cheap way worked. */
  record Fetched(float[] weights, long bytes, boolean fromSums) {}

  private static final Logger LOG = LoggerFactory.getLogger(RoundDownload.class);
  /** Sums of round r come after commit r; how far before it to look, for clocks that differ. */
  private static final long CLOCK_SLACK_MS = 60_000;

  private final RunTopics topics;
  private final ChunkPlan plan;
  private final RoundLog log;
  /** The run's bound on a worker's values: a sum beyond its share of it is not stepped with. */
  private final NormBound bound;
  private final String worker;
  private final Duration timeout;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final List<TopicPartition> partitions;
  private final AvroSerde<ReducedChunk> serde = AvroSerde.of(ReducedChunk.class);
  /** Per partition of the sums topic, the next offset to read; empty until first needed. */
  private final Map<TopicPartition, Long> next = new HashMap<>();
  /** The optimizer's momentum after the round held; null while unknown. */
  private float[] momentum;
  private int heldRound = -1;
  /** Bytes of sums read for the round being fetched. */
  private long sumBytes;
  /**
   * Whether to step from the sums: the run's sums are smaller than its weights (packed
   * integers, not FP64), and this worker may read them and the momentum.
   */
  private boolean useSums;

  RoundDownload(RunTopics topics, ChunkPlan plan, ElementCodec codec, RoundLog log,
      String worker, KafkaClientConfig clients, Duration timeout) {
    this.topics = topics;
    this.plan = plan;
    this.log = log;
    this.bound = log.model().map(NormBound::of).orElse(NormBound.NONE);
    this.worker = worker;
    this.timeout = timeout;
    // FP32 and BF16 sums are doubles, 8 bytes an element: the weights (4) are cheaper.
    this.useSums = ExactSum.create(codec, 1).sumEncoding() != SumEncoding.FP64;
    this.consumer = new KafkaConsumer<>(clients.scanner(), new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
    int count = Topics.partitions(clients, topics.reduced());
    this.partitions = java.util.stream.IntStream.range(0, count)
        .mapToObj(p -> new TopicPartition(topics.reduced(), p)).toList();
  }

  /**
   * The weights of {@code commit}'s round; {@code held}: the weights of the round this worker
   * trained last (its θ(r)), or null.
   */
  Fetched fetch(RoundCommit commit, float[] held) {
    int round = commit.getRound();
    if (!(useSums && held != null && momentum != null && heldRound == round - 1)) {
      return full(commit, 0);
    }
    sumBytes = 0;
    FromSums stepped;
    try {
      stepped = fromSums(commit, held);
    } catch (AuthorizationException e) {
      refused(e);
      stepped = new Unusable(e.getMessage());
    } catch (RuntimeException e) { // the sums could not be read: the weights still can
      stepped = new Unusable(e.toString());
      next.clear(); // start again from the next round's commit time
    }
    if (stepped instanceof Unusable u) {
      LOG.info("worker {}: round {} from its sums failed ({}); reading its weights", worker,
          round, u.why());
      momentum = null;
      return full(commit, sumBytes);
    }
    heldRound = round;
    return new Fetched(held, sumBytes, true);
  }

  /** What came of stepping a round from its sums. */
  private sealed interface FromSums permits Stepped, Unusable {}

  /** The held weights are the commit's now, and the momentum too. */
  private record Stepped() implements FromSums {}

  /** The sums did not give the commit's weights, and why (the held weights are spoilt). */
  private record Unusable(String why) implements FromSums {}

  /**
   * The optimizer's momentum after the round fetched last (shared, not to be changed: every
   * round gets a new array), or null when this worker does not know it.
   */
  float[] momentum() {
    return momentum;
  }

  /** The full weights, checked, and the momentum when this worker does not have it. */
  private Fetched full(RoundCommit commit, long spent) {
    long before = log.bytesRead();
    float[] weights = log.weights(commit, plan);
    OuterStep step = OuterStep.of(commit.getOuterOptimizer());
    if (commit.getOutcome() == RoundOutcome.INITIAL || step.method() == OuterMethod.SGD) {
      momentum = new float[weights.length];
    } else if (momentum == null && useSums) {
      try {
        momentum = log.momentum(commit.getRound(), plan);
      } catch (AuthorizationException e) {
        refused(e);
      } catch (CorruptRoundException e) {
        // Compacted: the optimizer may have moved on. Full weights again next round, and retry.
        LOG.info("worker {}: no momentum of round {} to step with ({}); reading full weights",
            worker, commit.getRound(), e.getMessage());
      }
    }
    heldRound = commit.getRound();
    return new Fetched(weights, spent + log.bytesRead() - before, false);
  }

  /** A cluster that lets this worker read weights but not sums or momentum: weights it is. */
  private void refused(AuthorizationException e) {
    useSums = false;
    LOG.warn("worker {}: may not read the sums or the optimizer's momentum ({}); reading every "
        + "round's full weights (grant READ on {} and {}: diloco acls)", worker, e.getMessage(),
        topics.reduced(), topics.optimizerState());
  }

  /**
   * Steps {@code theta} (round r's) to {@code commit}'s round in place, from round r's sums as
   * {@link RoundSums} takes them, read on from where the last round's left off (the bytes read
   * are counted in {@link #sumBytes}).
   */
  private FromSums fromSums(RoundCommit commit, float[] theta) {
    float[] m = momentum.clone();
    if (commit.getOutcome() == RoundOutcome.STEPPED) {
      int r = commit.getRound() - 1;
      RoundSums sums = new RoundSums(topics.runId(), plan, bound, r);
      RoundStep step = RoundStep.madeBy(commit);
      if (next.isEmpty()) {
        start(commit);
      }
      for (TopicPartition p : partitions) {
        PartitionReader.read(consumer, p, next.get(p), Long.MAX_VALUE, timeout, record -> {
          if (record.value() != null) {
            sumBytes += record.value().length;
          }
          Verdict<ReducedChunk> decoded = Records.decode(serde, record.value());
          if (decoded.accepted() && decoded.value().getRound() == r + 1) {
            return false; // the next round's: read it next time
          }
          // A sum further ahead is none of any round this worker will step from here (no
          // honest one is written before its round opens): passed over, not stopped at, or
          // one forged sum of round 2^31 - 1 would hold back every later round's.
          next.put(p, record.offset() + 1);
          if (decoded.accepted() && decoded.value().getRound() == r
              && sums.offer(decoded.value()) instanceof Verdict.Accept<CheckedSum> taken) {
            step.apply(taken.value(), theta, m);
          }
          return true;
        });
      }
      if (!sums.complete()) {
        return new Unusable("a sum of round " + r + " is missing");
      }
    } else if (commit.getOutcome() != RoundOutcome.REPUBLISHED) {
      return new Unusable("its outcome is " + commit.getOutcome());
    }
    if (!Arrays.equals(Checksums.sha256(theta), Checksums.sha256Of(commit))) {
      return new Unusable("the stepped weights' SHA-256 is not the commit's");
    }
    momentum = m;
    return new Stepped();
  }

  /** Where to start reading sums: shortly before the commit of the round they are of. */
  private void start(RoundCommit commit) {
    long since = Math.max(0, commit.getRoundOpenedAtMs() - CLOCK_SLACK_MS);
    Map<TopicPartition, Long> query = new HashMap<>();
    partitions.forEach(p -> query.put(p, since));
    Map<TopicPartition, OffsetAndTimestamp> at = consumer.offsetsForTimes(query, timeout);
    Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, timeout);
    for (TopicPartition p : partitions) {
      OffsetAndTimestamp o = at.get(p);
      next.put(p, o != null ? o.offset() : ends.get(p));
    }
  }

  @Override
  public void close() {
    consumer.close(WorkerClients.CLOSE_BOUND);
  }
}
