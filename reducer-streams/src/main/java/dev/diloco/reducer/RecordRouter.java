package dev.diloco.reducer;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.schemas.WorkerHeartbeat;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * Sends each record of the chunk topics to the processor of its type. A worker's own topic
 * carries its heartbeats ahead of its chunks (so that the reducer takes its membership of a
 * round before its chunks of it, in one partition's order); a value written as a heartbeat
 * (its single-object fingerprint says so) on such a topic goes to {@link AnnouncementProcessor},
 * everything else to {@link ChunkSumProcessor}, which refuses what is not a chunk.
 */
final class RecordRouter implements Processor<byte[], byte[], byte[], byte[]> {

  static final String ANNOUNCEMENTS = "announcements";
  static final String SUMS = "sum";

  private final RunTopics topics;
  private final AvroSerde<WorkerHeartbeat> heartbeats = AvroSerde.of(WorkerHeartbeat.class);
  private ProcessorContext<byte[], byte[]> context;

  RecordRouter(RunTopics topics) {
    this.topics = topics;
  }

  @Override
  public void init(ProcessorContext<byte[], byte[]> context) {
    this.context = context;
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    String topic = context.recordMetadata().orElseThrow().topic();
    boolean announcement = topics.workerOf(topic).isPresent()
        && heartbeats.isWrittenAs(record.value());
    context.forward(record, announcement ? ANNOUNCEMENTS : SUMS);
  }
}
