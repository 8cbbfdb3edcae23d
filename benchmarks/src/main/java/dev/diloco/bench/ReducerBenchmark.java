package dev.diloco.bench;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.reducer.Reducer;
import dev.diloco.reducer.ReducerConfig;
import dev.diloco.schemas.PseudoGradientChunk;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Feeds N simulated workers' FP16 pseudo-gradients of P parameters through the reducer on a
 * broker, and measures beside it the raw produce and consume rates of the same bytes on the
 * same broker in the same run: the reducer's speed as a fraction of what Kafka itself moves.
 *
 * <p>The phases, after an untimed pass that warms up the JIT, the broker and the page cache:
 * (1) produce the chunk records to a plain topic, timed, the median of three passes: the raw
 * produce rate; (2) consume them back with a plain consumer, the median of four passes: the raw
 * consume rate; (3) with the reducer (exactly-once) started and paused, produce the same
 * records to the run's topic, then resume it and time until the last sum is committed: the
 * reducer's own input rate; (4) the same for a second round with the reducer running while the
 * records are produced, from the first send to the last sum: the rate of producing and reducing
 * together, as a run sees it.
 */
final class ReducerBenchmark {

  /** What to run. */
  record Settings(int workers, int parameters, int chunkElements, int partitions) {
    Settings {
      if (workers < 1 || parameters < 1 || chunkElements < 1 || partitions < 1) {
        throw new IllegalArgumentException("workers, parameters, chunk elements and partitions "
            + "must all be >= 1, got " + workers + ", " + parameters + ", " + chunkElements
            + ", " + partitions);
      }
    }
  }

  /** What it measured, in bytes and seconds. */
  record Result(long inputBytes, long outputBytes, int inputRecords, int sums,
      double produceSeconds, double consumeSeconds, double reduceSeconds,
      double pipelineSeconds) {

    double produceMBps() {
      return inputBytes / produceSeconds / 1e6;
    }

    double consumeMBps() {
      return inputBytes / consumeSeconds / 1e6;
    }

    double reduceMBps() {
      return inputBytes / reduceSeconds / 1e6;
    }

    double pipelineMBps() {
      return inputBytes / pipelineSeconds / 1e6;
    }

    void print(PrintStream out, Settings s) {
      out.printf("reducer benchmark: %d workers x %,d parameters (FP16), chunks of %,d, "
          + "%d partitions%n", s.workers(), s.parameters(), s.chunkElements(), s.partitions());
      out.printf("  input: %,d bytes in %d records; sums out: %,d bytes in %d records%n",
          inputBytes, inputRecords, outputBytes, sums);
      out.printf("  raw produce     %8.1f MB/s  (%.2f s)%n", produceMBps(), produceSeconds);
      out.printf("  raw consume     %8.1f MB/s  (%.2f s)%n", consumeMBps(), consumeSeconds);
      out.printf("  reducer input   %8.1f MB/s  (%.2f s, %.1f chunks summed/s; ratio to raw "
          + "produce %.2f, to raw consume %.2f)%n", reduceMBps(), reduceSeconds,
          inputRecords / reduceSeconds, reduceMBps() / produceMBps(), reduceMBps() / consumeMBps());
      out.printf("  produce+reduce  %8.1f MB/s  (%.2f s from the first send to the last sum; "
          + "ratio to raw produce %.2f)%n", pipelineMBps(), pipelineSeconds,
          pipelineMBps() / produceMBps());
    }
  }

  private ReducerBenchmark() {}

  /** {@code streamsOverrides}: Kafka Streams settings over the reducer's own, to compare them. */
  static Result run(Settings s, KafkaClientConfig clients, Path stateDir,
      Map<String, ?> streamsOverrides) throws Exception {
    SyntheticRun run = new SyntheticRun("bench", s.workers(), s.parameters(), s.chunkElements(),
        s.partitions(), clients);
    String raw = "diloco-bench-raw-" + run.topics.runId();
    run.createTopics(raw);
    run.announceWorkers(2);
    run.publishRound0();

    // (1) Raw produce of the workers' chunks to a plain topic of the same partitions.
    List<ProducerRecord<byte[], byte[]>> records = run.chunkRecords(0);
    long inputBytes = records.stream().mapToLong(r -> r.value().length).sum();
    List<ProducerRecord<byte[], byte[]>> rawRecords = records.stream()
        .map(r -> new ProducerRecord<>(raw, r.partition(), r.key(), r.value())).toList();
    RawKafka.produce(rawRecords, clients); // untimed: warms up the JIT, broker and page cache
    RawKafka.readToEnd(raw, s.partitions(), clients);
    // The median of three: these machines are shared, and one pass can be far off.
    double[] produces = new double[3];
    for (int i = 0; i < produces.length; i++) {
      produces[i] = RawKafka.produce(rawRecords, clients);
    }

    // (2) Raw consume of the same bytes: the topic holds them four times; each copy read is
    // timed, and the median taken.
    double[] consumes = consumePasses(raw, s.partitions(), clients, inputBytes);

    // (3) The reducer alone on records already in the topic; (4) while they are produced.
    ReducerConfig config = new ReducerConfig(run.topics.runId(), 1,
        ReducerConfig.DEFAULT_CHECK_EVERY, s.partitions());
    int sums = run.plan.chunkCount();
    long outputBytes;
    double reduceSeconds;
    double pipelineSeconds;
    try (Reducer reducer = new Reducer(config, clients, stateDir.resolve(run.topics.runId()),
        new SimpleMeterRegistry(), streamsOverrides)) {
      reducer.start(Duration.ofMinutes(2));
      reducer.pause();
      RawKafka.produce(records, clients);
      long t0 = System.nanoTime();
      reducer.resume();
      outputBytes = RawKafka.awaitRecords(run.topics.reduced(), s.partitions(), clients, sums,
          false);
      reduceSeconds = (System.nanoTime() - t0) / 1e9;

      run.publishCommit(1);
      List<ProducerRecord<byte[], byte[]>> round1 = records.stream()
          .map(r -> withRound(r, 1)).toList();
      t0 = System.nanoTime();
      Thread producing = new Thread(() -> RawKafka.produce(round1, clients), "bench-workers");
      producing.start();
      RawKafka.awaitRecords(run.topics.reduced(), s.partitions(), clients, sums, true);
      producing.join();
      pipelineSeconds = (System.nanoTime() - t0) / 1e9;
    }
    return new Result(inputBytes, outputBytes, records.size(), sums,
        RawKafka.median(produces), RawKafka.median(consumes), reduceSeconds, pipelineSeconds);
  }

  /** Reads {@code topic} with one consumer, timing each copy of {@code copyBytes} read. */
  private static double[] consumePasses(String topic, int partitions, KafkaClientConfig clients,
      long copyBytes) {
    double[] passes = new double[4];
    long read = 0;
    try (var consumer = new KafkaConsumer<>(clients.consumer(null), new ByteArrayDeserializer(),
        new ByteArrayDeserializer())) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int p = 0; p < partitions; p++) {
        tps.add(new TopicPartition(topic, p));
      }
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      long deadline = System.nanoTime() + RawKafka.READ_TIMEOUT.toNanos();
      long passStart = System.nanoTime();
      int pass = 0;
      while (pass < passes.length) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("reading " + topic + " took more than "
              + RawKafka.READ_TIMEOUT);
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          read += r.value().length;
          while (pass < passes.length && read >= (pass + 1) * copyBytes) {
            long now = System.nanoTime();
            passes[pass++] = (now - passStart) / 1e9;
            passStart = now;
          }
        }
      }
    }
    if (read != passes.length * copyBytes) {
      throw new IllegalStateException("read back " + read + " bytes of " + passes.length + " x "
          + copyBytes);
    }
    return passes;
  }

  /** The same chunk, of another round. */
  private static ProducerRecord<byte[], byte[]> withRound(ProducerRecord<byte[], byte[]> r,
      int round) {
    AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
    PseudoGradientChunk chunk = serde.decode(r.value());
    chunk.put("round", round);
    return new ProducerRecord<>(r.topic(), r.partition(), r.key(), serde.encode(chunk));
  }
}
