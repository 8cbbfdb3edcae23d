package dev.diloco.bench;

import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.ChunkEncoder;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.layout.ChunkPlan;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * FP16 encode and decode of one default chunk (512 Ki elements: 1 MiB of FP16, 2 MiB of FP32)
 * beside plain {@code System.arraycopy} of the same bytes, so the codec's speed is known as a
 * fraction of memory speed on the machine at hand. {@link CodecReport} runs it and prints GB/s
 * and the ratios.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class CodecBenchmark {

  static final int ELEMENTS = ChunkPlan.DEFAULT_CHUNK_ELEMENTS;
  static final int FP16_BYTES = 2 * ELEMENTS;
  static final int FP32_BYTES = 4 * ELEMENTS;

  private float[] values;
  private float[] decoded;
  private byte[] fp16;
  private byte[] fp16Copy;
  private byte[] fp32;
  private byte[] fp32Copy;
  private ChunkEncoder encoder;
  private ChunkDecoder decoder;
  private ByteBuffer payload;
  private int crc;

  @Setup
  public void setUp() {
    Random random = new Random(1);
    values = new float[ELEMENTS];
    for (int i = 0; i < ELEMENTS; i++) {
      values[i] = (float) (random.nextGaussian() * 1e-3); // pseudo-gradient-like magnitudes
    }
    decoded = new float[ELEMENTS];
    fp16 = new byte[FP16_BYTES];
    fp16Copy = new byte[FP16_BYTES];
    fp32 = new byte[FP32_BYTES];
    fp32Copy = new byte[FP32_BYTES];
    TensorCodec.FP16.encode(values, 0, ELEMENTS, fp16, 0);
    encoder = new ChunkEncoder(PayloadFormat.FP16, ELEMENTS);
    decoder = new ChunkDecoder(ELEMENTS);
    ChunkEncoder.Encoded e = encoder.encode(values, 0, ELEMENTS);
    payload = ByteBuffer.wrap(e.payload().array().clone(), 0, e.payload().remaining());
    crc = e.crc32c();
  }

  @TearDown
  public void tearDown() {
    encoder.close();
    decoder.close();
  }

  @Benchmark
  public byte[] fp16Encode() {
    TensorCodec.FP16.encode(values, 0, ELEMENTS, fp16, 0);
    return fp16;
  }

  @Benchmark
  public float[] fp16Decode() {
    TensorCodec.FP16.decode(fp16, 0, ELEMENTS, decoded, 0);
    return decoded;
  }

  /** Encode plus CRC32C: what a worker does per chunk. */
  @Benchmark
  public void fp16EncodeChunk(Blackhole bh) {
    bh.consume(encoder.encode(values, 0, ELEMENTS));
  }

  /** CRC32C, finiteness check and decode: what a reader does per chunk. */
  @Benchmark
  public float[] fp16DecodeChunk() {
    decoder.decode(payload.duplicate(), PayloadFormat.FP16, ELEMENTS, crc, decoded, 0);
    return decoded;
  }

  /** Memory speed for the FP16 bytes: the baseline. */
  @Benchmark
  public byte[] arraycopyFp16Bytes() {
    System.arraycopy(fp16, 0, fp16Copy, 0, FP16_BYTES);
    return fp16Copy;
  }

  /** Memory speed for the FP32 bytes the encoder reads. */
  @Benchmark
  public byte[] arraycopyFp32Bytes() {
    System.arraycopy(fp32, 0, fp32Copy, 0, FP32_BYTES);
    return fp32Copy;
  }
}
