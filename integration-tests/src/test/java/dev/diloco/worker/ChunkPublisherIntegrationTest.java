package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.broker.EmbeddedKafkaExtension;
import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.Fp16;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.log.RoundLog;
import dev.diloco.core.math.PseudoGradient;
import dev.diloco.schemas.PseudoGradientChunk;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ChunkPublisherIntegrationTest {

  @RegisterExtension
  static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

  @Test
  void deltaPublishedConsumedAndReassembledIsTheFp16RoundingOfThetaRoundMinusThetaLocal()
      throws Exception {
    RunTopics topics = new RunTopics("delta");
    int partitions = 3;
    Topics.create(KAFKA.clients(), topics.newTopics(partitions, (short) 1, KAFKA.clients()));
    // A real model's weights before and after a few inner steps.
    ModelConfig config = new ModelConfig(16, 1, 32, 4, 64);
    LanguageModel model = LanguageModel.of(config, 2, 3);
    int n = (int) model.layout().totalElements();
    float[] round = new float[n];
    model.parameters(round);
    float[] local = round.clone();
    float[] grad = new float[n];
    AdamW adamw = new AdamW(AdamW.Config.OPENDILOCO, model.layout());
    byte[] text = BuiltInCorpus.generate(8192, 2);
    SplittableRandom random = new SplittableRandom(4);
    for (int step = 0; step < 5; step++) {
      model.lossAndGradient(ByteCorpus.windows(text, 2, 16, random), grad);
      adamw.step(local, grad);
      model.setParameters(local);
    }
    float[] delta = new float[n];
    PseudoGradient.compute(round, local, delta);

    ChunkPlan plan = model.layout().chunks(4096);
    try (ChunkPublisher publisher = new ChunkPublisher(topics, "w-7", plan, PayloadFormat.FP16,
        partitions, KAFKA.clients())) {
      ChunkPublisher.Published p = publisher.publish(0, delta, 5, 160, 5.5f);
      assertThat(p.chunks()).isEqualTo(plan.chunkCount());
    }

    float[] back = new float[n];
    java.util.BitSet seen = new java.util.BitSet();
    AvroSerde<PseudoGradientChunk> serde = AvroSerde.of(PseudoGradientChunk.class);
    RoundLog log = new RoundLog(topics, KAFKA.clients(), Duration.ofSeconds(30));
    try (ChunkDecoder decoder = new ChunkDecoder(plan.chunkElements())) {
      for (int part = 0; part < partitions; part++) {
        int partition = part;
        log.readToEnd(new TopicPartition(topics.pseudoGradients(), part), 0, r -> {
          PseudoGradientChunk c = serde.decode(r.value());
          assertThat(topics.partitionOf(c.getChunkIndex(), partitions)).isEqualTo(partition);
          assertThat(c.getWorkerId()).isEqualTo("w-7");
          decoder.decode(c.getPayload(), PayloadFormat.of(c.getEncoding(), 0, c.getCompression(),
              c.getBytePlanes()), c.getElementCount(), c.getCrc32c(), back,
              (int) c.getElementOffset());
          seen.set(c.getChunkIndex());
          return true;
        });
      }
    }
    assertThat(seen.cardinality()).isEqualTo(plan.chunkCount());
    for (int i = 0; i < n; i++) {
      float expected = Fp16.toFloat(Fp16.fromFloat(round[i] - local[i]));
      assertThat(back[i]).as("element %d", i).isEqualTo(expected);
    }
    assertThat(delta).isNotEqualTo(new float[n]); // the inner steps did move the weights
  }
}
