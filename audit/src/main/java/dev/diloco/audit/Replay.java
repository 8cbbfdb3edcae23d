package dev.diloco.audit;

import dev.diloco.audit.RunRecords.Entry;
import dev.diloco.audit.RunRecords.Located;
import dev.diloco.audit.TopicReader.Location;
import dev.diloco.core.codec.ChunkDecoder;
import dev.diloco.core.codec.ChunkRejectedException;
import dev.diloco.core.codec.Checksums;
import dev.diloco.core.codec.Fp16;
import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.sum.ExactSum;
import dev.diloco.optimizer.OuterStep;
import dev.diloco.schemas.Compression;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.OptimizerStateChunk;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.RoundOutcome;
import dev.diloco.schemas.TensorEncoding;
import dev.diloco.schemas.WeightsChunk;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.apache.kafka.common.errors.SerializationException;

/**
 * Re-executes a run's rounds from its log and checks them bit for bit: for each round commit,
 * the reducer's sums are recomputed with {@link ExactSum} from the recorded pseudo-gradient
 * chunks (of the contributors each sum names, the first valid chunk of each, as the reducer
 * took them), the outer step is applied with {@link OuterStep} at the learning rate the commit
 * records, and the result is compared with every published weights chunk of the round, with the
 * commit's SHA-256, and with the optimizer's momentum where the compacted state topic still has
 * it. Round 0's weights cannot be recomputed (they come from the seed); they are checked against
 * their commit.
 *
 * <p>Each round is judged on its own: the next round starts from the published weights when
 * they match their commit, and from the momentum the recorded sums give, so one bad round does
 * not make every later one look bad.
 */
public final class Replay {

  /** Something that does not check out; {@code chunk} is -1 for the round as a whole. */
  public record Finding(int round, int chunk, String detail) {
    @Override
    public String toString() {
      return "round " + round + (chunk >= 0 ? ", chunk " + chunk : "") + ": " + detail;
    }
  }

  /** One round's verdict: ok when there are no findings. */
  public record RoundResult(int round, RoundOutcome outcome, List<String> contributors,
      long tokens, long pseudoGradientBytes, long weightsBytes, List<Finding> findings) {
    public boolean ok() {
      return findings.isEmpty();
    }
  }

  /** The verdict on rounds {@code from} to {@code to}. */
  public record Report(String runId, int from, int to, List<RoundResult> rounds) {
    public boolean ok() {
      return rounds.stream().allMatch(RoundResult::ok);
    }

    public Optional<Finding> firstFinding() {
      return rounds.stream().flatMap(r -> r.findings().stream()).findFirst();
    }
  }

  private final RunRecords run;
  private final TopicReader reader;
  private final ParameterLayout layout;
  private final ChunkPlan plan;
  private final TensorEncoding encoding;
  private final ChunkDecoder decoder;
  private final AvroSerde<PseudoGradientChunk> chunkSerde = AvroSerde.of(PseudoGradientChunk.class);
  private final AvroSerde<ReducedChunk> sumSerde = AvroSerde.of(ReducedChunk.class);
  private final AvroSerde<WeightsChunk> weightsSerde = AvroSerde.of(WeightsChunk.class);
  private final AvroSerde<OptimizerStateChunk> stateSerde = AvroSerde.of(OptimizerStateChunk.class);
  /** The state after the previous round: published weights, momentum as the optimizer had it. */
  private float[] theta;
  private float[] momentum;

  private Replay(RunRecords run, TopicReader reader) {
    this.run = run;
    this.reader = reader;
    ModelDescription model = run.model();
    this.layout = ParameterLayout.fromSpec(model.getLayout());
    this.plan = layout.chunks(model.getLayout().getChunkElements());
    this.encoding = model.getEncoding();
    this.decoder = new ChunkDecoder(plan.chunkElements());
  }

  /**
   * Replays rounds {@code from} to {@code to} (inclusive; -1: the newest), starting from the
   * published weights of round {@code from - 1}; {@code onRound} sees each verdict as it is made.
   */
  public static Report replay(RunRecords run, TopicReader reader, int from, int to,
      Consumer<RoundResult> onRound) {
    int last = to < 0 ? run.lastRound() : to;
    if (last < 0) {
      throw new IllegalStateException("run " + run.topics().runId() + " has no committed round");
    }
    if (from < 0 || from > last) {
      throw new IllegalArgumentException("rounds " + from + " to " + last + " are not a range of "
          + "this run, whose newest committed round is " + run.lastRound());
    }
    Replay replay = new Replay(run, reader);
    try {
      replay.startAt(from);
      List<RoundResult> rounds = new ArrayList<>();
      for (int n = from; n <= last; n++) {
        RoundResult result = replay.round(n);
        rounds.add(result);
        onRound.accept(result);
      }
      return new Report(run.topics().runId(), from, last, rounds);
    } finally {
      replay.decoder.close();
    }
  }

  /** The state before round {@code from}: its predecessor's published weights and momentum. */
  private void startAt(int from) {
    if (from == 0) {
      return;
    }
    Located<RoundCommit> before = run.commits(from - 1).stream().findFirst()
        .orElseThrow(() -> new IllegalArgumentException("round " + (from - 1) + " has no commit, "
            + "so a replay cannot start at round " + from));
    Published published = published(before.value());
    if (!published.complete() || !Arrays.equals(Checksums.sha256(published.weights),
        sha(before.value()))) {
      throw new IllegalStateException("the published weights of round " + (from - 1) + " do not "
          + "match their commit, so a replay cannot start from them: replay from an earlier round");
    }
    theta = published.weights;
    momentum = new float[theta.length];
    float[] scratch = new float[theta.length];
    // The momentum depends on the sums alone, not on the weights: replay it from the recorded
    // sums, as the optimizer applied them.
    for (int n = 1; n < from; n++) {
      RoundCommit commit = run.commits(n).stream().findFirst().map(Located::value).orElse(null);
      if (commit == null || commit.getOutcome() != RoundOutcome.STEPPED) {
        continue;
      }
      OuterStep step = step(commit);
      Map<Integer, Recorded> sums = recordedSums(n - 1, new ArrayList<>());
      for (Recorded s : sums.values()) {
        ChunkRange range = plan.range(s.chunk);
        step.apply((float) commit.getOuterLearningRate(), s.values(), 0, s.contributors.size(),
            scratch, momentum, (int) range.offset(), range.count());
      }
    }
  }

  private RoundResult round(int n) {
    List<Finding> findings = new ArrayList<>();
    List<Located<RoundCommit>> commits = run.commits(n);
    if (commits.isEmpty()) {
      findings.add(new Finding(n, -1, "the round has no commit"));
      return new RoundResult(n, null, List.of(), 0, 0, 0, findings);
    }
    RoundCommit commit = commits.get(0).value();
    for (Located<RoundCommit> other : commits.subList(1, commits.size())) {
      boolean sameSha = Arrays.equals(sha(other.value()), sha(commit));
      findings.add(new Finding(n, -1, "a second commit of the round at offset "
          + other.at().offset() + " (the first is at " + commits.get(0).at().offset() + "), "
          + (sameSha ? "with the same SHA-256" : "with SHA-256 " + hex(sha(other.value()))
          + " where the first has " + hex(sha(commit))) + ": the optimizer commits a round once"));
    }
    if (commit.getTotalElements() != plan.totalElements()
        || commit.getChunkCount() != plan.chunkCount()) {
      findings.add(new Finding(n, -1, "the commit says " + commit.getTotalElements()
          + " elements in " + commit.getChunkCount() + " chunks, the model "
          + plan.totalElements() + " in " + plan.chunkCount()));
      return new RoundResult(n, commit.getOutcome(), List.of(), 0, 0, 0, findings);
    }
    Published published = published(commit);
    float[] expected;
    float[] nextMomentum;
    List<String> contributors = new ArrayList<>();
    long pseudoGradientBytes = 0;
    RoundOutcome outcome = commit.getOutcome();
    boolean initial = outcome == RoundOutcome.INITIAL;
    if ((n == 0) != initial || theta == null && !initial) {
      findings.add(new Finding(n, -1, "the commit's outcome is " + outcome + "; round 0, and only "
          + "round 0, is INITIAL"));
      return new RoundResult(n, outcome, List.of(), 0, 0, RunRecords.bytes(run.weights(n)),
          findings);
    }
    if (initial) {
      expected = published.weights; // the seed's weights: checked against the commit below
      nextMomentum = new float[expected.length];
    } else if (outcome == RoundOutcome.REPUBLISHED) {
      expected = theta.clone();
      nextMomentum = momentum.clone();
    } else if (outcome == RoundOutcome.STEPPED) {
      Stepped stepped = step(n - 1, commit, findings);
      expected = stepped.theta;
      nextMomentum = stepped.momentum;
      contributors.addAll(stepped.contributors);
      pseudoGradientBytes = RunRecords.bytes(run.pseudoGradients(n - 1));
      List<String> committed = commit.getContributors().stream()
          .map(Contribution::getWorkerId).sorted().toList();
      if (!committed.equals(stepped.contributors)) {
        findings.add(new Finding(n, -1, "the commit names contributors " + committed
            + ", the round's sums " + stepped.contributors));
      }
    } else {
      findings.add(new Finding(n, -1, "the commit's outcome " + outcome + " is not one this "
          + "build knows"));
      return new RoundResult(n, outcome, List.of(), 0, 0, 0, findings);
    }
    compareWeights(n, commit, published, expected, findings);
    compareMomentum(n, nextMomentum, findings);
    byte[] replayed = Checksums.sha256(expected);
    if (!Arrays.equals(replayed, sha(commit))) {
      findings.add(new Finding(n, -1, "the commit's SHA-256 " + hex(sha(commit))
          + " is not the replayed weights' " + hex(replayed)));
    }
    boolean publishedHolds = published.complete()
        && Arrays.equals(Checksums.sha256(published.weights), sha(commit));
    theta = publishedHolds ? published.weights : expected;
    momentum = nextMomentum;
    findings.sort(Comparator.comparingInt(f -> f.chunk() < 0 ? Integer.MAX_VALUE : f.chunk()));
    long tokens = commit.getContributors().stream().mapToLong(Contribution::getTokens).sum();
    return new RoundResult(n, outcome, contributors, tokens, pseudoGradientBytes,
        RunRecords.bytes(run.weights(n)), findings);
  }

  private record Stepped(float[] theta, float[] momentum, List<String> contributors) {}

  /** Round {@code r}'s reduction and outer step, from the state after round r. */
  private Stepped step(int r, RoundCommit commit, List<Finding> findings) {
    int n = r + 1;
    OuterStep step = step(commit);
    float lr = (float) commit.getOuterLearningRate();
    Map<Integer, Recorded> recorded = recordedSums(r, findings);
    Reduction reduction = reduce(r, recorded);
    float[] expected = theta.clone();
    float[] expectedMomentum = momentum.clone();
    float[] scratch = theta.clone();
    float[] carried = momentum.clone();
    SortedSet<String> contributors = new TreeSet<>();
    for (int c = 0; c < plan.chunkCount(); c++) {
      ChunkRange range = plan.range(c);
      Recorded sum = recorded.get(c);
      ExactSum exact = reduction.sums.get(c);
      if (sum == null) {
        findings.add(new Finding(n, c, "no valid sum of round " + r + " for this chunk in "
            + run.topics().reduced()));
      } else {
        sum.contributors.forEach(x -> contributors.add(x.getWorkerId()));
        checkContributions(n, c, sum, exact, reduction, findings);
      }
      if (exact == null) {
        if (sum != null) {
          findings.add(new Finding(n, c, "none of the pseudo-gradient chunks the sum names is "
              + "in " + run.topics().pseudoGradients()));
        }
        continue;
      }
      double[] recomputed = new double[range.count()];
      exact.sumTo(recomputed, 0);
      int count = sum != null ? sum.contributors.size() : exact.contributors().size();
      step.apply(lr, recomputed, 0, count, expected, expectedMomentum, (int) range.offset(),
          range.count());
      if (sum != null) {
        double[] values = sum.values();
        if (exact.contributors().size() == sum.contributors.size()) {
          compareSums(n, c, values, recomputed, reduction, findings);
        }
        step.apply(lr, values, 0, count, scratch, carried, (int) range.offset(), range.count());
      } else {
        System.arraycopy(expectedMomentum, (int) range.offset(), carried, (int) range.offset(),
            range.count());
      }
    }
    return new Stepped(expected, carried, List.copyOf(contributors));
  }

  private OuterStep step(RoundCommit commit) {
    return new OuterStep(commit.getOuterOptimizer().getMethod(),
        (float) commit.getOuterOptimizer().getMomentum());
  }

  /** A reducer's sum as the optimizer applied it: the first valid one of each chunk. */
  private record Recorded(int chunk, List<Contribution> contributors, ReducedChunk record,
      Location at, int count) {
    double[] values() {
      double[] values = new double[count];
      ExactSum.decode(record.getSumEncoding(), record.getSum(), count, values, 0);
      return values;
    }
  }

  private Map<Integer, Recorded> recordedSums(int r, List<Finding> findings) {
    Map<Integer, Recorded> recorded = new TreeMap<>();
    reader.fetch(run.sums(r).stream().map(Entry::at).toList(), record -> {
      Location at = Location.of(record);
      try {
        ReducedChunk s = sumSerde.decode(record.value());
        ChunkRange range = plan.check(s.getChunkIndex(), s.getChunkCount(), s.getElementOffset(),
            s.getElementCount());
        if (Checksums.crc32c(s.getSum()) != s.getCrc32c()) {
          throw new ChunkRejectedException(DeadLetterReason.CRC_MISMATCH, "the sum's CRC32C "
              + "does not match");
        }
        if (s.getContributors().isEmpty()) {
          throw new ChunkRejectedException(DeadLetterReason.MALFORMED_RECORD,
              "a sum with no contributors");
        }
        Recorded found = new Recorded(s.getChunkIndex(), s.getContributors(), s, at,
            range.count());
        found.values(); // decodes, or says why not
        Recorded first = recorded.putIfAbsent(s.getChunkIndex(), found);
        if (first != null && !first.record.getSum().equals(s.getSum())) {
          findings.add(new Finding(r + 1, s.getChunkIndex(), "a second sum of round " + r
              + " at partition " + at.partition() + ", offset " + at.offset() + " differs from "
              + "the one applied (offset " + first.at.offset() + ")"));
        }
      } catch (SerializationException | IllegalArgumentException e) {
        // The optimizer rejected it too (dead letter); it is not part of the round.
      }
    });
    return recorded;
  }

  /** The recomputed sums of round {@code r}, and what it saw of each contribution. */
  private static final class Reduction {
    final Map<Integer, ExactSum> sums = new HashMap<>();
    /** The chunk each contributor's sum took, by "chunk/worker". */
    final Map<String, Location> used = new HashMap<>();
    final Map<String, Long> tokens = new HashMap<>();
    /** Why a contributor's chunk fails its checks now, by "chunk/worker". */
    final Map<String, String> rejected = new HashMap<>();
  }

  private Reduction reduce(int r, Map<Integer, Recorded> recorded) {
    Reduction reduction = new Reduction();
    Map<Integer, SortedSet<String>> named = new HashMap<>();
    recorded.forEach((c, s) -> named.put(c, new TreeSet<>(s.contributors.stream()
        .map(Contribution::getWorkerId).toList())));
    List<Location> wanted = run.pseudoGradients(r).stream()
        .filter(e -> !named.containsKey(e.chunk()) || named.get(e.chunk()).contains(e.worker()))
        .map(Entry::at).toList();
    reader.fetch(wanted, record -> {
      PseudoGradientChunk chunk = chunkSerde.decode(record.value()); // indexed: it decodes
      String key = chunk.getChunkIndex() + "/" + chunk.getWorkerId();
      Location at = Location.of(record);
      if (reduction.used.containsKey(key)) {
        return; // a duplicate: the reducer counted the first
      }
      try {
        String producer = run.topics().workerOf(record.topic()).orElse(chunk.getWorkerId());
        if (!producer.equals(chunk.getWorkerId())) {
          throw new ChunkRejectedException(DeadLetterReason.PRINCIPAL_MISMATCH, "it names "
              + "worker " + chunk.getWorkerId() + " on worker " + producer + "'s own topic");
        }
        ChunkRange range = plan.check(chunk.getChunkIndex(), chunk.getChunkCount(),
            chunk.getElementOffset(), chunk.getElementCount());
        PayloadFormat format = PayloadFormat.of(chunk.getEncoding(), chunk.getCompression(),
            chunk.getBytePlanes());
        if (format.encoding() != encoding) {
          throw new ChunkRejectedException(DeadLetterReason.LAYOUT_MISMATCH, "the chunk is "
              + format.encoding()
              + ", the run sums " + encoding);
        }
        ByteBuffer canonical = decoder.canonical(chunk.getPayload(), format, range.count(),
            chunk.getCrc32c());
        reduction.sums.computeIfAbsent(chunk.getChunkIndex(),
            c -> ExactSum.create(encoding, range.count())).add(chunk.getWorkerId(), canonical);
        reduction.used.put(key, at);
        reduction.tokens.put(key, chunk.getTokens());
        reduction.rejected.remove(key);
      } catch (ChunkRejectedException e) {
        reduction.rejected.putIfAbsent(key, at.topic() + ", partition " + at.partition()
            + ", offset " + at.offset() + ": " + e.getMessage());
      }
    });
    return reduction;
  }

  /** Did the log still hold, valid, each contribution the reducer says it summed? */
  private void checkContributions(int n, int c, Recorded sum, ExactSum exact,
      Reduction reduction, List<Finding> findings) {
    for (Contribution named : sum.contributors) {
      String key = c + "/" + named.getWorkerId();
      if (exact != null && exact.contributors().contains(named.getWorkerId())) {
        if (reduction.tokens.get(key) != named.getTokens()) {
          findings.add(new Finding(n, c, "the sum records " + named.getTokens() + " tokens for "
              + "worker " + named.getWorkerId() + ", its chunk " + reduction.tokens.get(key)));
        }
        continue;
      }
      String why = reduction.rejected.get(key);
      findings.add(new Finding(n, c, "the reducer summed a chunk of worker "
          + named.getWorkerId() + (why != null
              ? " that fails its checks now (" + why + "): it was changed after it was summed"
              : " that is not in " + run.topics().pseudoGradients())));
    }
  }

  private void compareSums(int n, int c, double[] recorded, double[] recomputed,
      Reduction reduction, List<Finding> findings) {
    int first = -1;
    int differing = 0;
    for (int i = 0; i < recorded.length; i++) {
      if (Double.doubleToRawLongBits(recorded[i]) != Double.doubleToRawLongBits(recomputed[i])) {
        differing++;
        first = first < 0 ? i : first;
      }
    }
    if (differing == 0) {
      return;
    }
    findings.add(new Finding(n, c, "the sum recomputed from the pseudo-gradient chunks differs "
        + "from the reducer's at " + differing + " of " + recorded.length + " elements (first: "
        + "element " + first + ", recomputed " + recomputed[first] + ", recorded "
        + recorded[first] + "); " + explain(c, recorded, recomputed, reduction)));
  }

  /**
   * Which one contribution, had it held other values when the reducer summed it, would give the
   * recorded sum? FP16 sums are exact, so the difference is what that chunk lost or gained; a
   * contribution explains it when adding the difference to it gives FP16 values everywhere.
   */
  private String explain(int c, double[] recorded, double[] recomputed, Reduction reduction) {
    if (encoding != TensorEncoding.FP16) {
      return "no single contribution is singled out for " + encoding + " sums";
    }
    Map<String, Location> chunks = new LinkedHashMap<>();
    reduction.used.forEach((key, at) -> {
      if (key.startsWith(c + "/")) {
        chunks.put(key.substring(key.indexOf('/') + 1), at);
      }
    });
    List<String> explaining = new ArrayList<>();
    Map<Location, String> byPlace = new HashMap<>();
    chunks.forEach((w, at) -> byPlace.put(at, w));
    reader.fetch(chunks.values(), record -> {
      PseudoGradientChunk chunk = chunkSerde.decode(record.value());
      float[] values = new float[recorded.length];
      decoder.decode(chunk.getPayload(), PayloadFormat.of(chunk.getEncoding(),
          chunk.getCompression(), chunk.getBytePlanes()), recorded.length, chunk.getCrc32c(),
          values, 0);
      for (int i = 0; i < values.length; i++) {
        double was = values[i] + (recorded[i] - recomputed[i]);
        float f = (float) was;
        if (f != was || Fp16.toFloat(Fp16.fromFloat(f)) != f) {
          return;
        }
      }
      explaining.add("worker " + chunk.getWorkerId() + "'s chunk at partition "
          + record.partition() + ", offset " + record.offset());
    });
    if (explaining.size() == 1) {
      return explaining.get(0) + " explains it: with other FP16 values it gives the recorded "
          + "sum, so it was changed after the reducer summed it";
    }
    return explaining.isEmpty() ? "no single contribution explains it: the reducer's sum is "
        + "wrong, or several chunks changed" : "several contributions could explain it: "
        + explaining;
  }

  /** A round's weights as published: every record, and the committed vector. */
  private final class Published {
    final float[] weights = new float[Math.toIntExact(plan.totalElements())];
    final java.util.BitSet committed = new java.util.BitSet();
    /** Every weights record of the round, decoded, or why it does not decode. */
    final List<PublishedChunk> chunks = new ArrayList<>();

    boolean complete() {
      return committed.cardinality() == plan.chunkCount();
    }
  }

  private record PublishedChunk(int chunk, Location at, float[] values, String error) {}

  private Published published(RoundCommit commit) {
    Published published = new Published();
    reader.fetch(run.weights(commit.getRound()).stream().map(Entry::at).toList(), record -> {
      Location at = Location.of(record);
      WeightsChunk w = weightsSerde.decode(record.value()); // indexed: it decodes
      try {
        ChunkRange range = plan.check(w.getChunkIndex(), w.getChunkCount(),
            w.getElementOffset(), w.getElementCount());
        float[] values = new float[range.count()];
        decoder.decode(w.getPayload(), PayloadFormat.of(w.getEncoding(), Compression.NONE,
            false), range.count(), w.getCrc32c(), values, 0);
        published.chunks.add(new PublishedChunk(w.getChunkIndex(), at, values, null));
        if (record.offset() >= commit.getWeightsOffset()
            && !published.committed.get(w.getChunkIndex())) {
          System.arraycopy(values, 0, published.weights, (int) range.offset(), range.count());
          published.committed.set(w.getChunkIndex());
        }
      } catch (IllegalArgumentException e) {
        published.chunks.add(new PublishedChunk(w.getChunkIndex(), at, null, e.getMessage()));
      }
    });
    return published;
  }

  private void compareWeights(int n, RoundCommit commit, Published published, float[] expected,
      List<Finding> findings) {
    for (int c = published.committed.nextClearBit(0); c < plan.chunkCount();
        c = published.committed.nextClearBit(c + 1)) {
      findings.add(new Finding(n, c, "no valid weights chunk at or after the commit's offset "
          + commit.getWeightsOffset() + " in " + run.topics().weights()));
    }
    for (PublishedChunk p : published.chunks) {
      String where = "the weights chunk at offset " + p.at.offset();
      if (p.error != null) {
        findings.add(new Finding(n, p.chunk, where + " fails its checks: " + p.error));
        continue;
      }
      ChunkRange range = plan.range(p.chunk);
      int first = -1;
      int differing = 0;
      for (int i = 0; i < p.values.length; i++) {
        if (Float.floatToRawIntBits(p.values[i])
            != Float.floatToRawIntBits(expected[(int) range.offset() + i])) {
          differing++;
          first = first < 0 ? i : first;
        }
      }
      if (differing > 0) {
        findings.add(new Finding(n, p.chunk, where + " differs from the replayed weights at "
            + differing + " of " + p.values.length + " elements (first: element " + first
            + ", published " + p.values[first] + ", replayed "
            + expected[(int) range.offset() + first] + ")"));
      }
    }
  }

  /** The optimizer's momentum of round {@code n}, where the compacted state topic kept it. */
  private void compareMomentum(int n, float[] expected, List<Finding> findings) {
    reader.fetch(run.momentum(n).stream().map(Entry::at).toList(), record -> {
      OptimizerStateChunk s = stateSerde.decode(record.value()); // indexed: it decodes
      try {
        ChunkRange range = plan.check(s.getChunkIndex(), s.getChunkCount(),
            s.getElementOffset(), s.getElementCount());
        float[] values = new float[range.count()];
        decoder.decode(s.getMomentum(), PayloadFormat.FP32, range.count(), s.getCrc32c(),
            values, 0);
        if (!Arrays.equals(values, 0, values.length, expected, (int) range.offset(),
            (int) range.offset() + range.count())) {
          findings.add(new Finding(n, s.getChunkIndex(), "the optimizer's momentum at offset "
              + record.offset() + " of " + run.topics().optimizerState()
              + " differs from the replayed momentum"));
        }
      } catch (IllegalArgumentException e) {
        findings.add(new Finding(n, s.getChunkIndex(), "the optimizer's momentum at offset "
            + record.offset() + " fails its checks: " + e.getMessage()));
      }
    });
  }

  private static byte[] sha(RoundCommit commit) {
    byte[] sha = new byte[commit.getWeightsSha256().remaining()];
    commit.getWeightsSha256().duplicate().get(sha);
    return sha;
  }

  private static String hex(byte[] bytes) {
    return HexFormat.of().formatHex(bytes).substring(0, Math.min(16, bytes.length * 2)) + "…";
  }
}
