package dev.diloco.reducer;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.rules.CheckedChunk;
import dev.diloco.core.rules.ChunkRules;
import dev.diloco.core.rules.Records;
import dev.diloco.core.rules.RoundWindow;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundFailure;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sums the pseudo-gradient chunks of the open round (the topology routes the heartbeats of
 * workers' own topics to {@link AnnouncementProcessor}), one exact sum per (round, chunk), and
 * emits it as soon as every member of the round has contributed; at the round's deadline, emits
 * what meets the quorum or reports the round failed ({@link Deadline}). Every chunk gets its
 * verdict from {@link ChunkRules}, the checks the replay applies too: accepted, it joins its
 * sum ({@link OpenSums}); to wait (its worker has not joined the round yet), it is parked and
 * tried again at each check; rejected, it goes to the dead-letter topic with its reason.
 *
 * <p>The open sums live in memory. The changelogged stores ({@link ReducerStores}) keep, per
 * contribution, only where it lies in the input topic: a task that starts re-reads those
 * chunks, so the chunks' bytes are written to Kafka once (by the workers), not a second time
 * into a changelog.
 */
final class ChunkSumProcessor implements Processor<byte[], byte[], byte[], byte[]> {

  static final String REDUCED_SINK = "reduced";
  static final String FAILURES_SINK = "round-failures";

  private static final Logger LOG = LoggerFactory.getLogger(ChunkSumProcessor.class);

  private final ReducerConfig config;
  private final RunTopics topics;
  private final Supplier<ContributionReader> readers;
  private final ReducerMetrics metrics;
  private final AvroSerde<PseudoGradientChunk> chunkSerde = AvroSerde.of(PseudoGradientChunk.class);
  private final AvroSerde<ReducedChunk> reducedSerde = AvroSerde.of(ReducedChunk.class);
  private final AvroSerde<RoundFailure> failureSerde = AvroSerde.of(RoundFailure.class);
  private final OpenSums sums = new OpenSums();
  private ProcessorContext<byte[], byte[]> context;
  private ReducerStores stores;
  private RunView run;
  private Members members;
  private DeadLetterSink deadLetters;
  private final ChunkRules rules;
  /** Where sums are written before they are encoded into a record: reused. */
  private byte[] sumBuffer = new byte[0];

  ChunkSumProcessor(ReducerConfig config, Supplier<ContributionReader> readers,
      ReducerMetrics metrics) {
    this.config = config;
    this.topics = config.topics();
    this.readers = readers;
    this.metrics = metrics;
    this.rules = new ChunkRules(topics);
  }

  @Override
  public void init(ProcessorContext<byte[], byte[]> context) {
    this.context = context;
    this.stores = new ReducerStores(context);
    this.run = new RunView(config.runId(), context);
    this.members = new Members(topics, run, stores, config.ownTopicsOnly());
    this.deadLetters = new DeadLetterSink(topics, metrics, context);
    sums.clear();
    rebuild();
    context.schedule(config.checkEvery(), PunctuationType.WALL_CLOCK_TIME, this::onClock);
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    RecordMetadata meta = context.recordMetadata().orElseThrow();
    metrics.inputBytes.increment(record.value() == null ? 0 : record.value().length);
    PartialSum.Pointer where = new PartialSum.Pointer(topics.workerOf(meta.topic()).orElse(null),
        meta.partition(), meta.offset());
    Verdict<PseudoGradientChunk> decoded = Records.decode(chunkSerde, record.value());
    if (decoded instanceof Verdict.Reject<PseudoGradientChunk> bad) {
      deadLetters.reject(where, record.key(), record.timestamp(), bad, null);
      return;
    }
    PseudoGradientChunk chunk = decoded.value();
    String key = RoundKeys.contribution(chunk);
    if (sums.isWaiting(key)) {
      // The first chunk of a worker is the one that counts, even while it waits.
      deadLetters.reject(where, record.key(), record.timestamp(), new Verdict.Reject<>(
          DeadLetterReason.DUPLICATE, chunk.getWorkerId() + " has a chunk waiting for this sum "
          + "already"), chunk);
      return;
    }
    Verdict<PartialSum> added = admit(chunk, where, record.timestamp(), true);
    if (added instanceof Verdict.Wait<PartialSum> wait) {
      sums.park(key, new OpenSums.Waiting(chunk, where, record.timestamp(),
          context.currentSystemTimeMs()));
      stores.point(key, where);
      LOG.info("run {}: {}: its chunk {} waits", config.runId(), wait.why(),
          chunk.getChunkIndex());
    } else if (added instanceof Verdict.Reject<PartialSum> bad) {
      deadLetters.reject(where, record.key(), record.timestamp(), bad, chunk);
    }
  }

  /**
   * The verdict on a chunk, and when accepted, the sum it joined; {@code fresh}: it is new, not
   * a re-read after a restart, so it is pointed to, counted, and may complete its sum.
   */
  private Verdict<PartialSum> admit(PseudoGradientChunk chunk, PartialSum.Pointer where,
      long producedAtMs, boolean fresh) {
    OpenRound current = run.open();
    RoundWindow window = current == null ? null : new RoundWindow(current.round(),
        current.plan(), current.codec(), config.normBound(current.model()),
        config.chunkPartitions(), index -> stores.isClosed(current.round(), index),
        worker -> members.isMember(current.round(), worker));
    Verdict<CheckedChunk> checked = rules.check(where.topic(topics), where.partition(), chunk,
        window);
    Verdict<PartialSum> added = checked.then(c -> sums.add(c, producedAtMs,
        context.currentSystemTimeMs()));
    if (fresh && added instanceof Verdict.Accept<PartialSum> a) {
      metrics.chunksSummed.increment();
      metrics.contributed(chunk.getRound(), chunk.getWorkerId());
      stores.point(RoundKeys.contribution(chunk), where);
      PartialSum partial = a.value();
      if (Deadline.complete(partial, members.of(current.round()), config.quorum())) {
        emit(current, chunk.getChunkIndex(), partial, true);
      }
    }
    return added;
  }

  /** Writes the sum of a chunk and forgets it: state never grows with the rounds. */
  private void emit(OpenRound current, int index, PartialSum partial, boolean complete) {
    if (sumBuffer.length < partial.sum.maxSumBytes()) {
      sumBuffer = new byte[partial.sum.maxSumBytes()];
    }
    long now = context.currentSystemTimeMs();
    int round = current.round();
    ReducedChunk reduced = partial.record(config.runId(), round, current.plan().range(index),
        current.plan().chunkCount(), complete, sumBuffer, now);
    context.forward(new Record<>(RunTopics.chunkKey(index), reducedSerde.encode(reduced), now),
        REDUCED_SINK);
    partial.sum.contributors().forEach(w -> stores.unpoint(RoundKeys.contribution(round, index,
        w)));
    sums.remove(round, index);
    stores.closeChunk(round, index, now);
    metrics.emitted(partial.newestContributionMs, now);
  }

  /** Re-reads the contributions of the open sums after a (re)start of this task. */
  private void rebuild() {
    Map<String, PartialSum.Pointer> pointers = stores.allPointers();
    if (pointers.isEmpty()) {
      return;
    }
    try (ContributionReader reader = readers.get()) {
      pointers.forEach((key, where) -> {
        byte[] value = reader.read(new TopicPartition(where.topic(topics), where.partition()),
            where.offset());
        PseudoGradientChunk chunk = chunkSerde.decode(value); // it decoded when it first came
        Verdict<PartialSum> again = admit(chunk, where, 0L, false);
        if (again instanceof Verdict.Wait) {
          sums.park(key, new OpenSums.Waiting(chunk, where, 0L, context.currentSystemTimeMs()));
        } else if (again instanceof Verdict.Reject<PartialSum> stale) {
          // Checked when it first came; what fails now is its round having moved on while
          // this task was down. Its sum is no longer wanted.
          LOG.info("run {}: dropping a contribution of a closed sum: {}", config.runId(),
              stale.message());
          stores.unpoint(key);
        }
      });
    }
    LOG.info("run {}: task {} re-read {} contributions of {} open sums", config.runId(),
        context.taskId(), pointers.size(), sums.size());
  }

  /** The round's deadline, the waiting chunks, and forgetting rounds that are over. */
  private void onClock(long now) {
    OpenRound current = run.open();
    if (current == null) {
      return;
    }
    int round = current.round();
    sums.forgetBefore(round).forEach((key, w) -> reject(w, new Verdict.Reject<>(
        DeadLetterReason.LATE, "round " + RoundKeys.roundOf(key) + " closed while the chunk "
        + "waited for its worker to join")));
    stores.forgetBefore(round);
    boolean deadline = current.closedBy(now);
    retryWaiting(current, now, deadline);
    if (!deadline) {
      endGraces(current, now);
      return;
    }
    if (stores.deadlinePassed(round)) {
      return;
    }
    Deadline decided = Deadline.decide(owned(current),
        index -> stores.isClosed(round, index), index -> sums.get(round, index), config.quorum());
    decided.emit().forEach(index -> emit(current, index, sums.get(round, index), false));
    stores.markDeadline(round, now);
    if (decided.failed()) {
      RoundFailure failure = decided.failure(config.runId(), round, config.quorum(),
          current.deadline().timeout(), now);
      LOG.warn("run {}: round {} failed: {}", config.runId(), round, failure.getReason());
      context.forward(new Record<>(config.runId().getBytes(StandardCharsets.UTF_8),
          failureSerde.encode(failure), now), FAILURES_SINK);
    }
  }

  /** Emits the sums a LEAVE completed, and those whose silent members had their grace. */
  private void endGraces(OpenRound current, long now) {
    int round = current.round();
    Set<String> inRound = members.of(round);
    // Not silent: it sent this task a chunk of the round, or trains (its own topic says so).
    Set<String> heard = new java.util.TreeSet<>(sums.heard(round));
    heard.addAll(members.heardSince(round, now - config.memberGrace().toMillis()));
    for (int index : owned(current)) {
      PartialSum partial = sums.get(round, index);
      if (partial == null || stores.isClosed(round, index)) {
        continue;
      }
      if (Deadline.complete(partial, inRound, config.quorum())) {
        emit(current, index, partial, true);
      } else if (Deadline.graceIsOver(partial, inRound, heard, config.quorum(),
          config.memberGrace(), current.openedAtMs(), now)) {
        LOG.info("run {}: round {}, chunk {}: its silent members (up to ten named: {}) had "
            + "their grace; summed without them", config.runId(), round, index, inRound.stream()
            .filter(m -> !partial.sum.contributors().contains(m)).limit(10).toList());
        emit(current, index, partial, false);
      }
    }
  }

  /**
   * Sums the waiting chunks that have what they waited for; rejects those that fail now (their
   * round moved on), and those that waited too long: a chunk of the open round when its
   * deadline passes, a chunk of the next round a round timeout after it came.
   */
  private void retryWaiting(OpenRound current, long now, boolean deadline) {
    sums.waiting().forEach((key, w) -> {
      Verdict<PartialSum> again = admit(w.chunk(), w.where(), w.producedAtMs(), true);
      if (again instanceof Verdict.Wait<PartialSum> wait) {
        boolean expired = w.chunk().getRound() == current.round() ? deadline
            : current.deadline().passed(w.parkedAtMs(), now);
        if (expired) {
          sums.unpark(key);
          stores.unpoint(key);
          reject(w, new Verdict.Reject<>(wait.reason(), gaveUp(current, w, wait)));
        }
        return;
      }
      sums.unpark(key);
      if (again instanceof Verdict.Reject<PartialSum> bad) {
        stores.unpoint(key);
        reject(w, bad);
      }
    });
  }

  private String gaveUp(OpenRound current, OpenSums.Waiting w, Verdict.Wait<?> wait) {
    if (wait.reason() == DeadLetterReason.WORKER_NOT_IN_ROUND) {
      return "worker " + w.chunk().getWorkerId() + " had not joined round "
          + w.chunk().getRound() + " when its deadline passed (its members: "
          + members.of(w.chunk().getRound()) + ")";
    }
    return wait.why() + ", " + current.deadline().timeout() + " after the chunk came";
  }

  private List<Integer> owned(OpenRound current) { // the chunks in this task's partition
    return current.chunksOf(topics, context.taskId().partition(), config.chunkPartitions());
  }

  /** A waiting chunk's rejection, from a punctuation: no record is being processed. */
  private void reject(OpenSums.Waiting w, Verdict.Reject<?> verdict) {
    deadLetters.reject(w.where(), RunTopics.chunkKey(w.chunk().getChunkIndex()),
        context.currentSystemTimeMs(), verdict, w.chunk());
  }

  @Override
  public void close() {
    rules.close();
  }
}
