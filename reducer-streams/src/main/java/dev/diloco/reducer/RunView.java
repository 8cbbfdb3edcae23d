package dev.diloco.reducer;

import dev.diloco.core.codec.ElementCodec;
import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.WireBounds;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ChunkRejectedException;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.rules.CommitSignatures;
import dev.diloco.core.rules.RoundDeadline;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import dev.diloco.schemas.WorkerHeartbeat;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What every reducer task must see of the run, whatever partitions it owns: the model (for the
 * chunk plan), the newest committed round (the open one) and who trains in each round. Each
 * comes from a topic into a global store, through one of the small processors below.
 */
final class RunView {

  static final String MODEL = "run-model";
  static final String COMMITS = "run-commits";
  static final String MEMBERS = "run-members";

  private static final Logger LOG = LoggerFactory.getLogger(RunView.class);
  private final String runId;
  private final KeyValueStore<String, byte[]> models;
  private final KeyValueStore<String, byte[]> commits;
  private final KeyValueStore<String, byte[]> members;
  private final AvroSerde<ModelDescription> modelSerde = AvroSerde.of(ModelDescription.class);
  private final AvroSerde<RoundCommit> commitSerde = AvroSerde.of(RoundCommit.class);
  // Every chunk asks for the open round: decode the stored records only when they change.
  private byte[] modelBytes;
  /** How many commits the store held when last searched: searched again when one comes. */
  private long commitCount = -1;
  private ModelDescription cachedModel;
  private ChunkPlan cachedPlan;
  private ElementCodec cachedCodec;
  private RoundDeadline cachedDeadline;
  private RoundCommit cachedCommit;

  RunView(String runId, ProcessorContext<?, ?> context) {
    this.runId = runId;
    this.models = context.getStateStore(MODEL);
    this.commits = context.getStateStore(COMMITS);
    this.members = context.getStateStore(MEMBERS);
  }

  /**
   * The open round: the newest commit that verifies with the run's key (a forged one, of any
   * round, does not open it); null before the run's model and round 0 are published.
   */
  OpenRound open() {
    byte[] model = models.get(runId);
    if (model == null) {
      return null;
    }
    if (!java.util.Arrays.equals(model, modelBytes)) {
      cachedModel = modelSerde.decode(model);
      cachedPlan = ParameterLayout.chunkPlan(cachedModel.getLayout());
      cachedCodec = codec(cachedModel);
      cachedDeadline = deadline(cachedModel);
      modelBytes = model;
      commitCount = -1;
    }
    // The store only grows (a commit a record, kept), and in memory its count is exact.
    long count = commits.approximateNumEntries();
    if (count != commitCount) { // a commit came since: find the newest that verifies
      cachedCommit = null;
      try (KeyValueIterator<String, byte[]> it = commits.reverseAll()) {
        while (it.hasNext() && cachedCommit == null) {
          RoundCommit c = commitSerde.decode(it.next().value);
          if (CommitSignatures.check(cachedModel, c).accepted()) {
            cachedCommit = c;
          }
        }
      }
      commitCount = count;
    }
    return cachedCommit == null || cachedCodec == null || cachedDeadline == null ? null
        : new OpenRound(cachedCommit.getRound(), cachedCommit.getCommittedAtMs(), cachedModel,
            cachedPlan, cachedCodec, cachedDeadline);
  }

  /** The run's codec; null, said once, for a description whose codec cannot be built. */
  private static ElementCodec codec(ModelDescription model) {
    try {
      return ElementCodec.of(model.getEncoding(), model.getBlockSize());
    } catch (ChunkRejectedException e) {
      LOG.error("run {}: its description names no codec this reducer can sum: {}; no round "
          + "opens", model.getRunId(), e.detail());
      return null;
    }
  }

  /** The run's round deadline; null, said once, for a description whose deadline is unusable. */
  private static RoundDeadline deadline(ModelDescription model) {
    try {
      return RoundDeadline.of(model);
    } catch (IllegalArgumentException e) {
      LOG.error("{}; no round opens", e.getMessage());
      return null;
    }
  }

  /** Whether {@code worker} announced it trains {@code round} and has not left it. */
  boolean isMember(int round, String worker) {
    return members.get(RoundKeys.member(round, worker)) != null;
  }

  /** Workers that announced they train {@code round} and have not left it. */
  Set<String> members(int round) {
    Set<String> workers = new TreeSet<>();
    try (KeyValueIterator<String, byte[]> it =
        members.range(RoundKeys.roundStart(round), RoundKeys.roundEnd(round))) {
      it.forEachRemaining(kv -> workers.add(RoundKeys.afterSlash(kv.key)));
    }
    return workers;
  }

  /** Keeps the run's model description: the first (its key signs the run's commits). */
  static final class ModelUpdater extends Updater {
    private final AvroSerde<ModelDescription> serde = AvroSerde.of(ModelDescription.class);

    ModelUpdater(String runId) {
      super(runId, MODEL);
    }

    @Override
    void update(byte[] value) {
      ModelDescription d = serde.decode(value);
      if (d.getRunId().equals(runId) && store.get(runId) == null) {
        store.put(runId, value);
      }
    }
  }

  /**
   * Keeps every commit of the run, by round and offset: which of them open a round is decided
   * when it is read ({@link #open}), with the run's key, which may come after them.
   */
  static final class CommitUpdater extends Updater {
    private final AvroSerde<RoundCommit> serde = AvroSerde.of(RoundCommit.class);

    CommitUpdater(String runId) {
      super(runId, COMMITS);
    }

    @Override
    void update(byte[] value) {
      RoundCommit c = serde.decode(value);
      if (c.getRunId().equals(runId)) {
        store.put(RoundKeys.commit(c.getRound(), offset()), value);
      }
    }
  }

  /**
   * Keeps who trains in each round: a join or heartbeat adds a worker, a leave removes it. Only
   * rounds from the open one on: once a round is committed the rounds before it are closed, so
   * their members are forgotten and a heartbeat for one of them is passed over. The open round
   * is the newest commit that verifies with the run's key, so a forged heartbeat or commit of a
   * far round makes it forget nothing. What it holds is bounded whatever the shared topic
   * carries: rounds up to {@link #AHEAD} past the open one, {@link #MAX_MEMBERS} per round.
   */
  static final class MemberUpdater extends Updater {
    /**
     * How far past the open round a heartbeat is kept: a worker announces the open round or
     * the next, and this thread's view of the commits may be a round behind a worker's.
     */
    static final int AHEAD = 2;
    static final int MAX_MEMBERS = WireBounds.maxItems(RoundCommit.SCHEMA$, "contributors");

    private final AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);
    private RunView view;
    /** Every member of a round before this one is forgotten. */
    private int keptFrom;
    /** Members held by round: a round has no more than a commit can name. */
    private final java.util.TreeMap<Integer, Integer> members = new java.util.TreeMap<>();
    private final java.util.Set<String> refusedKinds = new java.util.HashSet<>();

    MemberUpdater(String runId) {
      super(runId, MEMBERS);
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      super.init(context);
      view = new RunView(runId, context); // the global stores are all this thread's
    }

    @Override
    void update(byte[] value) {
      WorkerHeartbeat h = serde.decode(value);
      if (!h.getRunId().equals(runId)) {
        return;
      }
      OpenRound open = view.open();
      if (open != null && open.round() > keptFrom) {
        forgetBefore(open.round());
      }
      if (h.getRound() < keptFrom) {
        return; // a closed round's: nobody waits for its members any more
      }
      if (open != null && h.getRound() > open.round() + AHEAD) {
        // Kept, it would stay until the run got there: a round 2^31 - 1 never comes.
        refused("far", "heartbeats for rounds more than " + AHEAD + " past the open one");
        return;
      }
      String key = RoundKeys.member(h.getRound(), h.getWorkerId());
      if (h.getKind() == HeartbeatKind.LEAVE) {
        if (store.delete(key) != null) {
          members.merge(h.getRound(), -1, Integer::sum);
        }
      } else if (h.getKind() == HeartbeatKind.JOIN || h.getKind() == HeartbeatKind.ALIVE) {
        if (store.get(key) == null) {
          if (members.getOrDefault(h.getRound(), 0) >= MAX_MEMBERS) {
            refused("full", "more than " + MAX_MEMBERS + " members of round " + h.getRound());
            return;
          }
          members.merge(h.getRound(), 1, Integer::sum);
          store.put(key, new byte[0]);
        }
      }
    }

    /** Says once per {@code kind} what the shared topic's heartbeats were refused for. */
    private void refused(String kind, String what) {
      if (refusedKinds.add(kind)) {
        LOG.warn("{}: passing over {} on the shared membership topic (said once)", runId, what);
      }
    }

    private void forgetBefore(int round) {
      java.util.List<String> old = new java.util.ArrayList<>();
      try (KeyValueIterator<String, byte[]> it =
          store.range(RoundKeys.roundStart(0), RoundKeys.roundStart(round))) {
        it.forEachRemaining(kv -> old.add(kv.key));
      }
      old.forEach(store::delete);
      members.headMap(round).clear();
      keptFrom = round;
    }
  }

  /** A global store's processor: unreadable records are logged and skipped, never fatal. */
  abstract static class Updater implements Processor<byte[], byte[], Void, Void> {
    final String runId;
    private final String storeName;
    KeyValueStore<String, byte[]> store;
    private ProcessorContext<Void, Void> context;

    Updater(String runId, String storeName) {
      this.runId = runId;
      this.storeName = storeName;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      this.context = context;
      store = context.getStateStore(storeName);
    }

    /** The offset of the record being processed. */
    long offset() {
      return context.recordMetadata().map(m -> m.offset()).orElse(-1L);
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
      if (record.value() == null) {
        return;
      }
      try {
        update(record.value());
      } catch (SerializationException e) {
        LOG.warn("{}: skipping an unreadable record: {}", storeName, e.getMessage());
      }
    }

    abstract void update(byte[] value);
  }
}
