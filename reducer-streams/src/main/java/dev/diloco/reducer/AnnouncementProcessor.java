package dev.diloco.reducer;

import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.WorkerHeartbeat;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * Takes the heartbeats a worker writes on its own topic ahead of its chunks ({@link Members}):
 * who is in which round, as only that worker may say. The topology routes them here, and the
 * chunks of the same topics to {@link ChunkSumProcessor}, in the order they came in each
 * partition, so a worker's announcement of a round is always taken before its chunks.
 */
final class AnnouncementProcessor implements Processor<byte[], byte[], byte[], byte[]> {

  private final ReducerConfig config;
  private final RunTopics topics;
  private final ReducerMetrics metrics;
  private ProcessorContext<byte[], byte[]> context;
  private RunView run;
  private Members members;
  private DeadLetterSink deadLetters;

  AnnouncementProcessor(ReducerConfig config, ReducerMetrics metrics) {
    this.config = config;
    this.topics = config.topics();
    this.metrics = metrics;
  }

  @Override
  public void init(ProcessorContext<byte[], byte[]> context) {
    this.context = context;
    this.run = new RunView(config.runId(), context);
    this.members = new Members(topics, run, new ReducerStores(context),
        config.ownTopicsOnly());
    this.deadLetters = new DeadLetterSink(topics, metrics, context);
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    RecordMetadata meta = context.recordMetadata().orElseThrow();
    metrics.inputBytes.increment(record.value() == null ? 0 : record.value().length);
    OpenRound open = run.open();
    Verdict<WorkerHeartbeat> heard = members.hear(meta.topic(), record.value(),
        open == null ? null : open.round(), context.currentSystemTimeMs());
    if (heard instanceof Verdict.Reject<WorkerHeartbeat> bad) {
      deadLetters.reject(new PartialSum.Pointer(topics.workerOf(meta.topic()).orElse(null),
          meta.partition(), meta.offset()), record.key(), record.timestamp(), bad, null);
    }
  }
}
