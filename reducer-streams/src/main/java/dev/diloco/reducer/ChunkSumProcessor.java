package dev.diloco.reducer;

import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.ChunkRejectedException;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundFailure;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
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
 * Sums the pseudo-gradient chunks of the open round, one partial sum per (round, chunk), and
 * emits the exact sum as soon as every member of the round has contributed; at the round's
 * deadline, emits what meets the quorum or reports the round failed. Every chunk is checked
 * before it touches a sum; a bad one goes to the dead-letter topic with its reason.
 */
final class ChunkSumProcessor implements Processor<byte[], byte[], byte[], byte[]> {

  static final String SUMS = "partial-sums";
  static final String CLOSED = "closed-chunks";
  static final String REDUCED_SINK = "reduced";
  static final String FAILURES_SINK = "round-failures";
  static final String DEAD_LETTER_SINK = "dead-letters";

  private static final Logger LOG = LoggerFactory.getLogger(ChunkSumProcessor.class);
  private static final String SERVICE = "reducer";

  private final ReducerConfig config;
  private final AvroSerde<PseudoGradientChunk> chunkSerde = AvroSerde.of(PseudoGradientChunk.class);
  private final AvroSerde<ReducedChunk> reducedSerde = AvroSerde.of(ReducedChunk.class);
  private final AvroSerde<RoundFailure> failureSerde = AvroSerde.of(RoundFailure.class);
  private final AvroSerde<DeadLetter> deadLetterSerde = AvroSerde.of(DeadLetter.class);
  private ProcessorContext<byte[], byte[]> context;
  private KeyValueStore<String, byte[]> sums;
  private KeyValueStore<String, Long> closed;
  private RunView run;
  private ChunkDecoder decoder;

  ChunkSumProcessor(ReducerConfig config) {
    this.config = config;
  }

  @Override
  public void init(ProcessorContext<byte[], byte[]> context) {
    this.context = context;
    this.sums = context.getStateStore(SUMS);
    this.closed = context.getStateStore(CLOSED);
    this.run = new RunView(config.runId(), context);
    context.schedule(config.checkEvery(), PunctuationType.WALL_CLOCK_TIME, this::onClock);
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    PseudoGradientChunk chunk;
    try {
      chunk = chunkSerde.decode(record.value() == null ? new byte[0] : record.value());
    } catch (SerializationException e) {
      reject(record, DeadLetterReason.MALFORMED_RECORD, "MALFORMED_RECORD: " + e.getMessage(),
          null);
      return;
    }
    try {
      add(chunk);
    } catch (ChunkRejectedException e) {
      reject(record, e.reason(), e.getMessage(), chunk);
    }
  }

  private void add(PseudoGradientChunk chunk) {
    if (!chunk.getRunId().equals(config.runId())) {
      throw new ChunkRejectedException(DeadLetterReason.RUN_MISMATCH, "the chunk is of run "
          + chunk.getRunId() + ", this reducer's run is " + config.runId());
    }
    RunView.OpenRound open = run.open();
    int round = chunk.getRound();
    int index = chunk.getChunkIndex();
    if (open == null) {
      throw new ChunkRejectedException(DeadLetterReason.ROUND_NOT_OPEN, "round " + round
          + " is not open: the run has no committed round yet");
    }
    if (round < open.round() || closed.get(RoundKeys.chunk(round, index)) != null
        || closed.get(deadlineKey(round)) != null) {
      throw new ChunkRejectedException(DeadLetterReason.LATE, "round " + round + ", chunk "
          + index + " is closed" + (round < open.round() ? ": the open round is " + open.round()
          : ": its sum was emitted or its deadline passed"));
    }
    if (round > open.round()) {
      throw new ChunkRejectedException(DeadLetterReason.ROUND_NOT_OPEN, "round " + round
          + " is not open: the open round is " + open.round());
    }
    Set<String> members = run.members(round);
    if (!members.contains(chunk.getWorkerId())) {
      throw new ChunkRejectedException(DeadLetterReason.WORKER_NOT_IN_ROUND, "worker "
          + chunk.getWorkerId() + " has not joined round " + round + " (its members: "
          + members + ")");
    }
    ChunkRange range = open.plan().check(index, chunk.getChunkCount(), chunk.getElementOffset(),
        chunk.getElementCount());
    PayloadFormat format = PayloadFormat.of(chunk.getEncoding(), chunk.getCompression(),
        chunk.getBytePlanes());
    if (format.encoding() != open.model().getEncoding()) {
      throw new ChunkRejectedException(DeadLetterReason.LAYOUT_MISMATCH, "the chunk is "
          + format.encoding() + ", the run sums " + open.model().getEncoding());
    }
    ByteBuffer canonical = decoder(open).canonical(chunk.getPayload(), format, range.count(),
        chunk.getCrc32c());

    String key = RoundKeys.chunk(round, index);
    byte[] stored = sums.get(key);
    PartialSum partial = stored == null
        ? PartialSum.empty(format.encoding(), range.count())
        : PartialSum.fromBytes(stored);
    partial.sum.add(chunk.getWorkerId(), canonical); // a second chunk of a worker: DUPLICATE
    partial.contributions.add(new Contribution(chunk.getWorkerId(), chunk.getTokens(),
        chunk.getInnerSteps(), chunk.getMeanInnerLoss()));
    if (partial.sum.contributors().containsAll(members)) {
      emit(round, range, partial, true);
    } else {
      sums.put(key, partial.toBytes());
    }
  }

  /** Writes the sum of a chunk and forgets its state: state never grows with the rounds. */
  private void emit(int round, ChunkRange range, PartialSum partial, boolean complete) {
    byte[] bytes = new byte[partial.sum.sumBytes()];
    partial.sum.writeSum(bytes, 0);
    long now = System.currentTimeMillis();
    ReducedChunk reduced = ReducedChunk.newBuilder()
        .setRunId(config.runId()).setRound(round).setChunkIndex(range.index())
        .setChunkCount(run.open().plan().chunkCount()).setElementOffset(range.offset())
        .setElementCount(range.count()).setContributors(partial.sortedContributions())
        .setSumEncoding(partial.sum.sumEncoding()).setSum(ByteBuffer.wrap(bytes))
        .setCrc32c(Checksums.crc32c(bytes, 0, bytes.length)).setComplete(complete)
        .setEmittedAtMs(now)
        .build();
    context.forward(new Record<>(RoundKeys.chunkRecordKey(range.index()),
        reducedSerde.encode(reduced), now), REDUCED_SINK);
    String key = RoundKeys.chunk(round, range.index());
    sums.delete(key);
    closed.put(key, now);
  }

  /** The round's deadline, and forgetting rounds that are over. */
  private void onClock(long now) {
    RunView.OpenRound open = run.open();
    if (open == null) {
      return;
    }
    forgetBefore(open.round());
    int round = open.round();
    if (now < open.openedAtMs() + config.roundTimeout().toMillis()
        || closed.get(deadlineKey(round)) != null) {
      return;
    }
    List<Integer> short_ = new ArrayList<>();
    List<String> seen = new ArrayList<>();
    for (int index : ownedChunks(open)) {
      String key = RoundKeys.chunk(round, index);
      if (closed.get(key) != null) {
        continue;
      }
      byte[] stored = sums.get(key);
      PartialSum partial = stored == null ? null : PartialSum.fromBytes(stored);
      if (partial != null && partial.contributions.size() >= config.quorum()) {
        emit(round, open.plan().range(index), partial, false);
      } else {
        short_.add(index);
        if (partial != null) {
          partial.contributions.forEach(c -> seen.add(c.getWorkerId()));
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
          seen.stream().distinct().sorted().toList(), config.quorum(), now);
      context.forward(new Record<>(config.runId().getBytes(java.nio.charset.StandardCharsets.UTF_8),
          failureSerde.encode(failure), now), FAILURES_SINK);
    }
  }

  /** The chunks whose records land in this task's partition. */
  private List<Integer> ownedChunks(RunView.OpenRound open) {
    int partition = context.taskId().partition();
    List<Integer> owned = new ArrayList<>();
    for (int i = 0; i < open.plan().chunkCount(); i++) {
      if (config.topics().partitionOf(i, config.chunkPartitions()) == partition) {
        owned.add(i);
      }
    }
    return owned;
  }

  private void forgetBefore(int round) {
    for (KeyValueStore<String, ?> store : List.of(sums, closed)) {
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

  private ChunkDecoder decoder(RunView.OpenRound open) {
    int size = open.plan().chunkElements();
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
    RecordMetadata meta = context.recordMetadata().orElse(null);
    LOG.warn("run {}: rejected a chunk: {}", config.runId(), detail);
    DeadLetter letter = DeadLetter.newBuilder()
        .setOriginalTopic(meta == null ? config.topics().pseudoGradients() : meta.topic())
        .setOriginalPartition(meta == null ? -1 : meta.partition())
        .setOriginalOffset(meta == null ? -1 : meta.offset())
        .setOriginalKey(record.key() == null ? null : ByteBuffer.wrap(record.key()))
        .setReason(reason).setDetail(String.valueOf(detail))
        .setRunId(chunk == null ? null : chunk.getRunId())
        .setRound(chunk == null ? null : chunk.getRound())
        .setWorkerId(chunk == null ? null : chunk.getWorkerId())
        .setChunkIndex(chunk == null ? null : chunk.getChunkIndex())
        .setRejectedBy(SERVICE).setRejectedAtMs(System.currentTimeMillis())
        .build();
    context.forward(new Record<>(record.key(), deadLetterSerde.encode(letter), record.timestamp()),
        DEAD_LETTER_SINK);
  }

  @Override
  public void close() {
    if (decoder != null) {
      decoder.close();
    }
  }
}
