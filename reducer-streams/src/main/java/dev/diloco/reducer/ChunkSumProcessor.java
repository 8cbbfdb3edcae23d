package dev.diloco.reducer;

import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.ChunkRejectedException;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.DeadLetters;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundFailure;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sums the pseudo-gradient chunks of the open round, one exact sum per (round, chunk), and
 * emits it as soon as every member of the round has contributed; at the round's deadline,
 * emits what meets the quorum or reports the round failed. Every chunk is checked before it
 * touches a sum; a bad one goes to the dead-letter topic with its reason.
 *
 * <p>A chunk of a worker the reducer has not seen join the round yet waits (its heartbeat may
 * reach the membership store after its chunks) and is summed when the worker shows up; at the
 * round's deadline it is rejected. The open sums live in memory. The changelogged store keeps, per contribution, only where
 * it lies in the input topic (12 bytes): exactly-once recovery re-reads those chunks when the
 * task starts, so the chunks' bytes are written to Kafka once (by the workers), not a second
 * time into a changelog.
 */
final class ChunkSumProcessor implements Processor<byte[], byte[], byte[], byte[]> {

  static final String POINTERS = "contribution-pointers";
  static final String CLOSED = "closed-chunks";
  static final String REDUCED_SINK = "reduced";
  static final String FAILURES_SINK = "round-failures";
  static final String DEAD_LETTER_SINK = "dead-letters";

  private static final Logger LOG = LoggerFactory.getLogger(ChunkSumProcessor.class);
  private static final String SERVICE = "reducer";

  private final ReducerConfig config;
  private final Supplier<ContributionReader> readers;
  private final ReducerMetrics metrics;
  private final AvroSerde<PseudoGradientChunk> chunkSerde = AvroSerde.of(PseudoGradientChunk.class);
  private final AvroSerde<ReducedChunk> reducedSerde = AvroSerde.of(ReducedChunk.class);
  private final AvroSerde<RoundFailure> failureSerde = AvroSerde.of(RoundFailure.class);
  private final AvroSerde<DeadLetter> deadLetterSerde = AvroSerde.of(DeadLetter.class);
  /** Open sums by {@code round/chunk}. */
  private final Map<String, PartialSum> open = new HashMap<>();
  /** Checked chunks of workers not (yet) members of their round, by {@code round/chunk/worker}. */
  private final Map<String, Waiting> waiting = new java.util.TreeMap<>();

  /** A chunk that waits for its worker to join its round. */
  private record Waiting(PseudoGradientChunk chunk, PartialSum.Pointer where, long producedAtMs) {}

  /** Thrown by {@link #add} for a chunk whose worker has not joined its round (yet). */
  private static final class NotYetMember extends RuntimeException {
    private static final long serialVersionUID = 1L;

    NotYetMember() {
      super(null, null, false, false);
    }
  }
  private ProcessorContext<byte[], byte[]> context;
  private KeyValueStore<String, byte[]> pointers;
  private KeyValueStore<String, Long> closed;
  private RunView run;
  private ChunkDecoder decoder;
  /** Where sums are written before they are encoded into a record: reused. */
  private byte[] sumBuffer = new byte[0];
  /** Decoded values, for the norm bound: reused. */
  private float[] values = new float[0];

  ChunkSumProcessor(ReducerConfig config, Supplier<ContributionReader> readers,
      ReducerMetrics metrics) {
    this.config = config;
    this.readers = readers;
    this.metrics = metrics;
  }

  @Override
  public void init(ProcessorContext<byte[], byte[]> context) {
    this.context = context;
    this.pointers = context.getStateStore(POINTERS);
    this.closed = context.getStateStore(CLOSED);
    this.run = new RunView(config.runId(), context);
    open.clear();
    waiting.clear();
    rebuild();
    context.schedule(config.checkEvery(), PunctuationType.WALL_CLOCK_TIME, this::onClock);
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    RecordMetadata meta = context.recordMetadata().orElseThrow();
    byte[] value = record.value() == null ? new byte[0] : record.value();
    metrics.inputBytes.increment(value.length);
    PseudoGradientChunk chunk;
    try {
      chunk = chunkSerde.decode(value);
    } catch (SerializationException e) {
      reject(record, DeadLetterReason.MALFORMED_RECORD, "MALFORMED_RECORD: " + e.getMessage(),
          null);
      return;
    }
    String producer = config.topics().workerOf(meta.topic()).orElse(null);
    try {
      if (producer != null && !producer.equals(chunk.getWorkerId())) {
        throw new ChunkRejectedException(DeadLetterReason.PRINCIPAL_MISMATCH, "the chunk names "
            + "worker " + chunk.getWorkerId() + " but came on " + meta.topic() + ", which only "
            + "worker " + producer + "'s principal may write");
      }
      if (waiting.containsKey(contributionKey(chunk))) {
        // The first chunk of a worker is the one that counts, even while it waits.
        throw new ChunkRejectedException(DeadLetterReason.DUPLICATE, chunk.getWorkerId()
            + " has a chunk waiting for this sum already");
      }
      PartialSum.Pointer where = new PartialSum.Pointer(producer, meta.partition(),
          meta.offset());
      try {
        add(chunk, where, record.timestamp(), true);
      } catch (NotYetMember e) {
        park(chunk, where, record.timestamp());
      }
    } catch (ChunkRejectedException e) {
      reject(record, e.reason(), e.getMessage(), chunk);
    }
  }

  /** A contribution's key in the pointer store and among the waiting: round/chunk/worker. */
  private static String contributionKey(PseudoGradientChunk chunk) {
    return RoundKeys.chunk(chunk.getRound(), chunk.getChunkIndex()) + "/" + chunk.getWorkerId();
  }

  /** Keeps a checked chunk until its worker joins its round (durably: its pointer). */
  private void park(PseudoGradientChunk chunk, PartialSum.Pointer where, long producedAtMs) {
    String key = contributionKey(chunk);
    waiting.put(key, new Waiting(chunk, where, producedAtMs));
    pointers.put(key, where.toBytes());
    LOG.info("run {}: worker {} has not joined round {} (yet): its chunk {} waits",
        config.runId(), chunk.getWorkerId(), chunk.getRound(), chunk.getChunkIndex());
  }

  /** Checks a chunk and adds it to its sum; {@code fresh}: not a re-read after a restart. */
  private void add(PseudoGradientChunk chunk, PartialSum.Pointer where, long producedAtMs,
      boolean fresh) {
    if (!chunk.getRunId().equals(config.runId())) {
      throw new ChunkRejectedException(DeadLetterReason.RUN_MISMATCH, "the chunk is of run "
          + chunk.getRunId() + ", this reducer's run is " + config.runId());
    }
    RunView.OpenRound current = run.open();
    int round = chunk.getRound();
    int index = chunk.getChunkIndex();
    if (current == null) {
      throw new ChunkRejectedException(DeadLetterReason.ROUND_NOT_OPEN, "round " + round
          + " is not open: the run has no committed round yet");
    }
    if (round < current.round() || closed.get(RoundKeys.chunk(round, index)) != null
        || closed.get(deadlineKey(round)) != null) {
      throw new ChunkRejectedException(DeadLetterReason.LATE, "round " + round + ", chunk "
          + index + " is closed" + (round < current.round() ? ": the open round is "
          + current.round() : ": its sum was emitted or its deadline passed"));
    }
    if (round > current.round()) {
      throw new ChunkRejectedException(DeadLetterReason.ROUND_NOT_OPEN, "round " + round
          + " is not open: the open round is " + current.round());
    }
    ChunkRange range = current.plan().check(index, chunk.getChunkCount(),
        chunk.getElementOffset(), chunk.getElementCount());
    PayloadFormat format = PayloadFormat.of(chunk.getEncoding(), chunk.getCompression(),
        chunk.getBytePlanes());
    if (format.encoding() != current.model().getEncoding()) {
      throw new ChunkRejectedException(DeadLetterReason.LAYOUT_MISMATCH, "the chunk is "
          + format.encoding() + ", the run sums " + current.model().getEncoding());
    }
    ByteBuffer canonical = decoder(current).canonical(chunk.getPayload(), format, range.count(),
        chunk.getCrc32c());
    if (config.maxChunkNorm() > 0) {
      checkNorm(canonical, format, range.count());
    }
    Set<String> members = run.members(round);
    if (!members.contains(chunk.getWorkerId())) {
      throw new NotYetMember();
    }

    String key = RoundKeys.chunk(round, index);
    PartialSum partial = open.computeIfAbsent(key,
        k -> new PartialSum(format.encoding(), range.count()));
    partial.sum.add(chunk.getWorkerId(), canonical); // a second chunk of a worker: DUPLICATE
    partial.contributions.add(new Contribution(chunk.getWorkerId(), chunk.getTokens(),
        chunk.getInnerSteps(), chunk.getMeanInnerLoss()));
    partial.newestContributionMs = Math.max(partial.newestContributionMs, producedAtMs);
    if (fresh) {
      metrics.chunksSummed.increment();
      pointers.put(contributionKey(chunk), where.toBytes());
      if (partial.sum.contributors().containsAll(members)) {
        emit(round, range, partial, true);
      }
    }
  }

  private void checkNorm(ByteBuffer canonical, PayloadFormat format, int count) {
    if (values.length < count) {
      values = new float[count];
    }
    format.codec().decode(canonical.array(), canonical.arrayOffset() + canonical.position(), count,
        values, 0);
    double squares = 0;
    for (int i = 0; i < count; i++) {
      squares += (double) values[i] * values[i];
    }
    double norm = Math.sqrt(squares);
    if (norm > config.maxChunkNorm()) {
      throw new ChunkRejectedException(DeadLetterReason.NORM_BOUND_EXCEEDED, "the chunk's L2 "
          + "norm is " + norm + ", above the bound " + config.maxChunkNorm());
    }
  }

  /** Writes the sum of a chunk and forgets it: state never grows with the rounds. */
  private void emit(int round, ChunkRange range, PartialSum partial, boolean complete) {
    if (sumBuffer.length < partial.sum.maxSumBytes()) {
      sumBuffer = new byte[partial.sum.maxSumBytes()];
    }
    ByteBuffer bytes = ByteBuffer.wrap(sumBuffer, 0, partial.sum.writeSum(sumBuffer, 0));
    long now = System.currentTimeMillis();
    ReducedChunk reduced = ReducedChunk.newBuilder()
        .setRunId(config.runId()).setRound(round).setChunkIndex(range.index())
        .setChunkCount(run.open().plan().chunkCount()).setElementOffset(range.offset())
        .setElementCount(range.count()).setContributors(partial.sortedContributions())
        .setSumEncoding(partial.sum.sumEncoding()).setSum(bytes)
        .setCrc32c(Checksums.crc32c(bytes)).setComplete(complete)
        .setEmittedAtMs(now)
        .build();
    context.forward(new Record<>(RoundKeys.chunkRecordKey(range.index()),
        reducedSerde.encode(reduced), now), REDUCED_SINK);
    String key = RoundKeys.chunk(round, range.index());
    partial.sum.contributors().forEach(worker -> pointers.delete(key + "/" + worker));
    open.remove(key);
    closed.put(key, now);
    metrics.emitted(partial.newestContributionMs, now);
  }

  /** Re-reads the contributions of the open sums after a (re)start of this task. */
  private void rebuild() {
    List<KeyValueEntry> entries = new ArrayList<>();
    try (KeyValueIterator<String, byte[]> it = pointers.all()) {
      it.forEachRemaining(kv -> entries.add(new KeyValueEntry(kv.key,
          PartialSum.Pointer.fromBytes(kv.value))));
    }
    if (entries.isEmpty()) {
      return;
    }
    try (ContributionReader reader = readers.get()) {
      for (KeyValueEntry e : entries) {
        byte[] value = reader.read(new TopicPartition(e.pointer.topic(config.topics()),
            e.pointer.partition()), e.pointer.offset());
        PseudoGradientChunk chunk = chunkSerde.decode(value);
        try {
          add(chunk, e.pointer, 0L, false);
        } catch (NotYetMember stillWaiting) {
          waiting.put(e.key, new Waiting(chunk, e.pointer, 0L));
        } catch (ChunkRejectedException stale) {
          // Checked when it first came; what fails now is its round having moved on while
          // this task was down. Its sum is no longer wanted.
          LOG.info("run {}: dropping a contribution of a closed sum: {}", config.runId(),
              stale.getMessage());
          pointers.delete(e.key);
        }
      }
    }
    LOG.info("run {}: task {} re-read {} contributions of {} open sums", config.runId(),
        context.taskId(), entries.size(), open.size());
  }

  private record KeyValueEntry(String key, PartialSum.Pointer pointer) {}

  /** The round's deadline, and forgetting rounds that are over. */
  private void onClock(long now) {
    RunView.OpenRound current = run.open();
    if (current == null) {
      return;
    }
    int round = current.round();
    forgetBefore(round);
    boolean deadline = now >= current.openedAtMs() + config.roundTimeout().toMillis();
    retryWaiting(deadline);
    if (!deadline || closed.get(deadlineKey(round)) != null) {
      return;
    }
    List<Integer> short_ = new ArrayList<>();
    Set<String> seen = new TreeSet<>();
    for (int index : ownedChunks(current)) {
      String key = RoundKeys.chunk(round, index);
      if (closed.get(key) != null) {
        continue;
      }
      PartialSum partial = open.get(key);
      if (partial != null && partial.contributions.size() >= config.quorum()) {
        emit(round, current.plan().range(index), partial, false);
      } else {
        short_.add(index);
        if (partial != null) {
          seen.addAll(partial.sum.contributors());
        }
      }
    }
    closed.put(deadlineKey(round), now);
    if (!short_.isEmpty()) {
      String reason = "chunks " + short_ + " had fewer than " + config.quorum()
          + " contributors when the deadline passed, " + config.roundTimeout()
          + " after the round opened";
      LOG.warn("run {}: round {} failed: {}", config.runId(), round, reason);
      RoundFailure failure = new RoundFailure(config.runId(), round, reason,
          new ArrayList<>(seen), config.quorum(), now);
      context.forward(new Record<>(config.runId().getBytes(StandardCharsets.UTF_8),
          failureSerde.encode(failure), now), FAILURES_SINK);
    }
  }

  /**
   * Sums the waiting chunks whose workers have joined since; rejects those of a round that
   * moved on, and at the deadline those whose workers never joined.
   */
  private void retryWaiting(boolean deadline) {
    for (String key : new ArrayList<>(waiting.keySet())) {
      Waiting w = waiting.get(key);
      try {
        add(w.chunk(), w.where(), w.producedAtMs(), true);
        waiting.remove(key);
      } catch (NotYetMember e) {
        if (deadline) {
          waiting.remove(key);
          pointers.delete(key);
          reject(w, DeadLetterReason.WORKER_NOT_IN_ROUND, "worker " + w.chunk().getWorkerId()
              + " had not joined round " + w.chunk().getRound() + " when its deadline passed "
              + "(its members: " + run.members(w.chunk().getRound()) + ")");
        }
      } catch (ChunkRejectedException e) {
        waiting.remove(key);
        pointers.delete(key);
        reject(w, e.reason(), e.getMessage());
      }
    }
  }

  /** The chunks whose records land in this task's partition. */
  private List<Integer> ownedChunks(RunView.OpenRound current) {
    int partition = context.taskId().partition();
    List<Integer> owned = new ArrayList<>();
    for (int i = 0; i < current.plan().chunkCount(); i++) {
      if (config.topics().partitionOf(i, config.chunkPartitions()) == partition) {
        owned.add(i);
      }
    }
    return owned;
  }

  private void forgetBefore(int round) {
    open.keySet().removeIf(key -> RoundKeys.roundOf(key) < round);
    for (String key : new ArrayList<>(waiting.keySet())) {
      if (RoundKeys.roundOf(key) < round) {
        reject(waiting.remove(key), DeadLetterReason.LATE, "round "
            + RoundKeys.roundOf(key) + " closed while the chunk waited for its worker to join");
      }
    }
    for (KeyValueStore<String, ?> store : List.of(pointers, closed)) {
      List<String> old = new ArrayList<>();
      try (KeyValueIterator<String, ?> it = store.range(RoundKeys.roundStart(0),
          RoundKeys.roundStart(round))) {
        it.forEachRemaining(kv -> {
          if (RoundKeys.roundOf(kv.key) < round) {
            old.add(kv.key);
          }
        });
      }
      old.forEach(store::delete);
    }
  }

  private static String deadlineKey(int round) {
    return RoundKeys.roundStart(round) + "deadline";
  }

  private ChunkDecoder decoder(RunView.OpenRound current) {
    int size = current.plan().chunkElements();
    if (decoder == null || decoder.maxElements() != size) {
      if (decoder != null) {
        decoder.close();
      }
      decoder = new ChunkDecoder(size);
    }
    return decoder;
  }

  private void reject(Record<byte[], byte[]> record, DeadLetterReason reason, String detail,
      PseudoGradientChunk chunk) {
    RecordMetadata meta = context.recordMetadata().orElseThrow();
    reject(meta.topic(), meta.partition(), meta.offset(), record.key(), record.timestamp(),
        reason, detail, chunk);
  }

  /** A waiting chunk's rejection, from a punctuation: no record is being processed. */
  private void reject(Waiting w, DeadLetterReason reason, String detail) {
    reject(w.where().topic(config.topics()), w.where().partition(), w.where().offset(),
        RoundKeys.chunkRecordKey(w.chunk().getChunkIndex()), System.currentTimeMillis(), reason,
        detail, w.chunk());
  }

  private void reject(String topic, int partition, long offset, byte[] key, long timestamp,
      DeadLetterReason reason, String detail, PseudoGradientChunk chunk) {
    LOG.warn("run {}: rejected a chunk: {}", config.runId(), detail);
    metrics.rejected(reason);
    DeadLetter.Builder letter = DeadLetters.of(topic, partition, offset, key, reason, detail,
        SERVICE);
    if (chunk != null) {
      letter.setRunId(chunk.getRunId()).setRound(chunk.getRound())
          .setWorkerId(chunk.getWorkerId()).setChunkIndex(chunk.getChunkIndex());
    }
    context.forward(new Record<>(key, deadLetterSerde.encode(letter.build()), timestamp),
        DEAD_LETTER_SINK);
  }

  @Override
  public void close() {
    if (decoder != null) {
      decoder.close();
    }
  }
}
