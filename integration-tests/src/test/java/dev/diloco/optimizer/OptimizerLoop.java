package dev.diloco.optimizer;

import dev.diloco.core.kafka.RunTopics;
import java.time.Duration;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** What the tests do with an optimizer that its service API leaves out. */
public final class OptimizerLoop {
  private OptimizerLoop() {}

  /** Polls until round {@code target} is committed, or fails after {@code timeout}. */
  public static void runUntil(OuterOptimizer optimizer, int target, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (optimizer.round() < target) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("round " + target + " was not reached within " + timeout
            + "; the newest committed round is " + optimizer.round());
      }
      if (optimizer.pollOnce(Duration.ofMillis(200)) instanceof Outcome.Fenced fenced) {
        throw new IllegalStateException(fenced.message(), fenced.cause());
      }
    }
  }

  /**
   * Kafka's producer, which throws what {@code failure} gives (null: nothing) right after the
   * {@code n}-th record it sends to run {@code runId}'s weights topic: the optimizer fails, or
   * dies, in the middle of publishing a round.
   */
  static OuterOptimizer.Producers failingAfterWeights(String runId, int n,
      Supplier<? extends Throwable> failure) {
    String weights = new RunTopics(runId).weights();
    AtomicInteger sent = new AtomicInteger();
    return config -> new KafkaProducer<>(config, new ByteArraySerializer(),
        new ByteArraySerializer()) {
      @Override
      public Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record,
          Callback callback) {
        Future<RecordMetadata> f = super.send(record, callback);
        if (record.topic().equals(weights) && sent.incrementAndGet() == n) {
          Throwable t = failure.get();
          if (t instanceof RuntimeException r) {
            throw r;
          }
          if (t instanceof Error e) {
            throw e;
          }
        }
        return f;
      }
    };
  }

}
