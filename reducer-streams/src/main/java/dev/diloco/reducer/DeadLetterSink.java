package dev.diloco.reducer;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.DeadLetters;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.PseudoGradientChunk;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** How the reducer's processors refuse a record: a dead letter with the reason, and a count. */
final class DeadLetterSink {

  static final String NAME = "dead-letters";

  private static final Logger LOG = LoggerFactory.getLogger(DeadLetterSink.class);

  private final RunTopics topics;
  private final ReducerMetrics metrics;
  private final ProcessorContext<byte[], byte[]> context;
  private final AvroSerde<DeadLetter> serde = AvroSerde.of(DeadLetter.class);

  DeadLetterSink(RunTopics topics, ReducerMetrics metrics,
      ProcessorContext<byte[], byte[]> context) {
    this.topics = topics;
    this.metrics = metrics;
    this.context = context;
  }

  /**
   * Refuses the record at {@code where} with {@code key}, at {@code timestamp}; {@code chunk}
   * (or null) is what it said, where it could be read.
   */
  void reject(PartialSum.Pointer where, byte[] key, long timestamp, Verdict.Reject<?> verdict,
      PseudoGradientChunk chunk) {
    LOG.warn("run {}: rejected a record of {}: {}", topics.runId(), where.topic(topics),
        verdict.message());
    metrics.rejected(verdict.reason());
    DeadLetter.Builder letter = DeadLetters.of(where.topic(topics), where.partition(),
        where.offset(), key, verdict.reason(), verdict.message(), DeadLetters.REDUCER, timestamp);
    if (chunk != null) {
      letter.setRunId(chunk.getRunId()).setRound(chunk.getRound())
          .setWorkerId(chunk.getWorkerId()).setChunkIndex(chunk.getChunkIndex());
    }
    context.forward(new Record<>(key, serde.encode(letter.build()), timestamp), NAME);
  }
}
