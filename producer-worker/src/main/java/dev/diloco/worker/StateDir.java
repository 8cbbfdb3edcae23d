package dev.diloco.worker;

import dev.diloco.core.codec.TensorCodec;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.schemas.StateDigest;
import dev.diloco.schemas.WorkerState;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * A worker's state directory ({@code --state-dir}): what it needs to go on bit for bit after a
 * restart, its AdamW moments and step count, its error-feedback residual and the pseudo-gradient
 * of the round it trained last, in one file written atomically once per round, after training
 * and before publishing. So whenever the worker dies, the file holds either round r − 1 (it
 * trains round r again, to the same bits, since its data position is a function of the round)
 * or round r with its Δ (it publishes that Δ again if round r is still open; the reducer counts
 * it once). In an overlapped run it also holds where round r + 1's inner steps start (the
 * estimate θ̂), so a restarted worker trains that round from the same weights. A lock keeps two
 * processes from sharing one directory.
 */
public final class StateDir implements AutoCloseable {

  /** The state file's name in the directory. */
  public static final String FILE = "worker-state.avro";
  private static final String LOCK = "lock";
  /** What the digested bytes start with: this layout of them (docs/FORMAT.md, section 9). */
  private static final String DIGEST_DOMAIN = "diloco worker state v2";

  /**
   * A worker's state once it has trained {@code round}.
   *
   * @param residual what the codec will leave out of {@code pseudoGradient}; null in a run
   *     without error feedback
   * @param pseudoGradient the round's Δ as it is encoded and sent
   * @param nextStart in an overlapped run, the weights round + 1's inner steps start from; null
   *     otherwise
   */
  public record Saved(int round, AdamW.State inner, float[] residual, float[] pseudoGradient,
      float meanInnerLoss, float[] nextStart) {

    /** A state of a run that does not overlap its rounds. */
    public Saved(int round, AdamW.State inner, float[] residual, float[] pseudoGradient,
        float meanInnerLoss) {
      this(round, inner, residual, pseudoGradient, meanInnerLoss, null);
    }

    public Saved {
      if (round < 0) {
        throw new IllegalArgumentException("a saved round must be >= 0, got " + round);
      }
      int n = pseudoGradient.length;
      if (inner.firstMoment().length != n || (residual != null && residual.length != n)
          || (nextStart != null && nextStart.length != n)) {
        throw new IllegalArgumentException("a worker's saved vectors differ in length: Δ "
            + n + ", moments " + inner.firstMoment().length + ", residual "
            + (residual == null ? "none" : residual.length) + ", next start "
            + (nextStart == null ? "none" : nextStart.length));
      }
    }
  }

  private final Path dir;
  private final Path file;
  private final String runId;
  private final String workerId;
  private final long elements;
  /** When the run's description was written: which run of {@code runId} this is. */
  private final long runDescribedAtMs;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final AvroSerde<WorkerState> serde = AvroSerde.of(WorkerState.class);

  private StateDir(Path dir, String runId, String workerId, long elements,
      long runDescribedAtMs, FileChannel lockChannel, FileLock lock) {
    this.dir = dir;
    this.file = dir.resolve(FILE);
    this.runId = runId;
    this.workerId = workerId;
    this.elements = elements;
    this.runDescribedAtMs = runDescribedAtMs;
    this.lockChannel = lockChannel;
    this.lock = lock;
  }

  /**
   * Opens (creating it if need be) the state directory of worker {@code workerId} of run
   * {@code runId}, whose model has {@code elements} parameters and whose description was
   * written at {@code runDescribedAtMs}, and locks it for this process.
   */
  public static StateDir open(Path dir, String runId, String workerId, long elements,
      long runDescribedAtMs) {
    try {
      Files.createDirectories(dir);
      FileChannel channel = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE,
          StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = channel.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null;
      }
      if (lock == null) {
        channel.close();
        throw new IllegalStateException("state directory " + dir + " is in use by another "
            + "worker process: give each worker a directory of its own");
      }
      return new StateDir(dir, runId, workerId, elements, runDescribedAtMs, channel, lock);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open state directory " + dir + ": " + e, e);
    }
  }

  /**
   * The saved state, or empty when none was saved yet; refuses a file that is not this one's,
   * or of a round past {@code newestCommitted}, the run's newest committed round (a worker
   * trains only committed rounds: waiting for that one could take as long as the round timeout).
   */
  public Optional<Saved> load(int newestCommitted) {
    if (!Files.exists(file)) {
      return Optional.empty();
    }
    WorkerState s;
    try {
      s = serde.decode(Files.readAllBytes(file));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read worker state " + file + ": " + e, e);
    } catch (RuntimeException e) {
      throw refused("it cannot be decoded (" + e.getMessage() + ")");
    }
    if (!s.getRunId().equals(runId) || !s.getWorkerId().equals(workerId)) {
      throw refused("it is worker " + s.getWorkerId() + "'s of run " + s.getRunId()
          + ", not worker " + workerId + "'s of run " + runId);
    }
    if (s.getElements() != elements) {
      throw refused("it holds " + s.getElements() + " parameters; this run's model has "
          + elements);
    }
    byte[][] vectors = vectors(s);
    if (!Arrays.equals(digest(s, vectors), s.getSha256().bytes())) {
      throw refused("its SHA-256 is not the one it was written with (changed on disk, or "
          + "written by an earlier version, whose digest left its counts out)");
    }
    if (!Long.valueOf(runDescribedAtMs).equals(s.getRunDescribedAtMs())) {
      throw refused("it is of an earlier run under the same run id (described at "
          + s.getRunDescribedAtMs() + " ms; this run at " + runDescribedAtMs + " ms)");
    }
    if (s.getInnerSteps() < 0 || s.getRound() < 0) {
      throw refused("it counts " + s.getInnerSteps() + " inner steps in round " + s.getRound());
    }
    if (s.getRound() > newestCommitted) {
      throw refused("it is of round " + s.getRound() + ", and the run has committed rounds up "
          + "to " + newestCommitted + " only");
    }
    for (byte[] v : vectors) {
      if (v.length != 4 * elements) {
        throw refused("a vector of " + v.length + " bytes for " + elements + " parameters");
      }
    }
    int last = vectors.length - (s.getNextStart() == null ? 1 : 2);
    return Optional.of(new Saved(s.getRound(), new AdamW.State(s.getInnerSteps(),
        floats(vectors[0]), floats(vectors[1])),
        s.getResidual() == null ? null : floats(vectors[2]), floats(vectors[last]),
        s.getMeanInnerLoss(), s.getNextStart() == null ? null : floats(vectors[last + 1])));
  }

  /** Replaces the saved state with {@code saved}, atomically and durably. */
  public void save(Saved saved) {
    if (saved.pseudoGradient().length != elements) {
      throw new IllegalArgumentException("a state of " + saved.pseudoGradient().length
          + " parameters for a model of " + elements);
    }
    byte[] m = bytes(saved.inner().firstMoment());
    byte[] v = bytes(saved.inner().secondMoment());
    byte[] residual = saved.residual() == null ? null : bytes(saved.residual());
    byte[] delta = bytes(saved.pseudoGradient());
    byte[] next = saved.nextStart() == null ? null : bytes(saved.nextStart());
    WorkerState unsigned = new WorkerState(runId, workerId, saved.round(), elements,
        saved.inner().steps(), ByteBuffer.wrap(m), ByteBuffer.wrap(v),
        residual == null ? null : ByteBuffer.wrap(residual), ByteBuffer.wrap(delta),
        saved.meanInnerLoss(), new StateDigest(new byte[32]), System.currentTimeMillis(),
        next == null ? null : ByteBuffer.wrap(next), runDescribedAtMs);
    WorkerState s = WorkerState.newBuilder(unsigned)
        .setSha256(new StateDigest(digest(unsigned, vectors(unsigned)))).build();
    Path tmp = dir.resolve(FILE + ".tmp");
    try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE,
        StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer body = ByteBuffer.wrap(serde.encode(s));
      while (body.hasRemaining()) {
        out.write(body);
      }
      out.force(true);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write worker state " + tmp + ": " + e, e);
    }
    try {
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
        d.force(true); // the rename itself survives a power cut
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot replace worker state " + file + ": " + e, e);
    }
  }

  private IllegalStateException refused(String why) {
    return new IllegalStateException("worker state " + file + " is refused: " + why + ". Give "
        + "this worker its own directory, or move the file away to rejoin from fresh inner "
        + "state (the run then differs from one without the restart)");
  }

  /** The vectors in digest order: moments, the residual if present, Δ, the next start if any. */
  private static byte[][] vectors(WorkerState s) {
    List<byte[]> v = new ArrayList<>(List.of(array(s.getFirstMoment()),
        array(s.getSecondMoment())));
    if (s.getResidual() != null) {
      v.add(array(s.getResidual()));
    }
    v.add(array(s.getPseudoGradient()));
    if (s.getNextStart() != null) {
      v.add(array(s.getNextStart()));
    }
    return v.toArray(byte[][]::new);
  }

  /**
   * SHA-256 of every field but the digest and the time of writing: the counts as well as the
   * vectors, so a changed step count or round is refused like a changed moment.
   */
  private static byte[] digest(WorkerState s, byte[][] vectors) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      ByteArrayOutputStream head = new ByteArrayOutputStream();
      try (DataOutputStream out = new DataOutputStream(head)) {
        out.writeUTF(DIGEST_DOMAIN);
        out.writeUTF(s.getRunId()); // bounded on the wire: far below writeUTF's 65,535 bytes
        out.writeUTF(s.getWorkerId());
        out.writeLong(s.getRunDescribedAtMs() == null ? -1 : s.getRunDescribedAtMs());
        out.writeInt(s.getRound());
        out.writeLong(s.getElements());
        out.writeInt(s.getInnerSteps());
        out.writeInt(Float.floatToRawIntBits(s.getMeanInnerLoss()));
        out.writeBoolean(s.getResidual() != null);
        out.writeBoolean(s.getNextStart() != null);
      }
      sha.update(head.toByteArray());
      for (byte[] v : vectors) {
        sha.update(v);
      }
      return sha.digest();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this JVM has no SHA-256", e);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static byte[] array(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  private static byte[] bytes(float[] v) {
    byte[] out = new byte[4 * v.length];
    TensorCodec.FP32.encode(v, 0, v.length, out, 0);
    return out;
  }

  private static float[] floats(byte[] b) {
    float[] out = new float[b.length / 4];
    TensorCodec.FP32.decode(b, 0, out.length, out, 0);
    return out;
  }

  @Override
  public void close() {
    try {
      lock.release();
      lockChannel.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot unlock state directory " + dir + ": " + e, e);
    }
  }
}
