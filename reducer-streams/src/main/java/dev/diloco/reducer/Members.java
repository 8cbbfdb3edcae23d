package dev.diloco.reducer;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.rules.Origin;
import dev.diloco.core.rules.Records;
import dev.diloco.core.rules.Verdict;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.WorkerHeartbeat;
import java.util.Set;
import java.util.TreeSet;

/**
 * Who trains in a round, as this task knows it. A worker that has a topic of its own (which
 * only its principal may write) announces its joins and leaves there too, on every partition,
 * and from its first such announcement this task believes only those: the shared membership
 * topic, which every worker may write, no longer speaks for it, so no worker can make the
 * reducer stop waiting for another (a forged LEAVE) or wait for it when it has left. A worker
 * without a topic of its own is known by the shared topic alone ({@link RunView}), unless the
 * reducer believes own topics only ({@link ReducerConfig#ownTopicsOnly}): then a JOIN there,
 * which can name a worker that does not exist, holds no round at all.
 */
final class Members {
  private final RunTopics topics;
  private final RunView run;
  private final ReducerStores stores;
  private final boolean ownTopicsOnly;
  private final AvroSerde<WorkerHeartbeat> serde = AvroSerde.of(WorkerHeartbeat.class);

  Members(RunTopics topics, RunView run, ReducerStores stores, boolean ownTopicsOnly) {
    this.topics = topics;
    this.run = run;
    this.stores = stores;
    this.ownTopicsOnly = ownTopicsOnly;
  }

  /**
   * Takes a heartbeat from a worker's own {@code topic}: it must decode, name the topic's
   * worker and this run, and be for the open round or the next (a worker announces nothing
   * further ahead; a later round would only fill the store). One for an earlier round changes
   * nothing and is accepted.
   */
  Verdict<WorkerHeartbeat> hear(String topic, byte[] value, Integer openRound, long nowMs) {
    Verdict<WorkerHeartbeat> decoded = Records.decode(serde, value);
    if (!(decoded instanceof Verdict.Accept<WorkerHeartbeat> ok)) {
      return decoded;
    }
    WorkerHeartbeat h = ok.value();
    Verdict<WorkerHeartbeat> origin = Origin.check(topics, topic, "heartbeat", h.getWorkerId(),
        h);
    if (!origin.accepted()) {
      return origin;
    }
    if (!h.getRunId().equals(topics.runId())) {
      return new Verdict.Reject<>(DeadLetterReason.RUN_MISMATCH, "the heartbeat is of run "
          + h.getRunId() + ", this reducer's run is " + topics.runId());
    }
    int open = openRound == null ? -1 : openRound;
    if (h.getRound() > open + 1L) {
      return new Verdict.Reject<>(DeadLetterReason.ROUND_NOT_OPEN, "the heartbeat is for round "
          + h.getRound() + ", the open round is " + (openRound == null ? "none yet" : open)
          + ": a worker announces only the open round or the next");
    }
    if (h.getRound() >= open && (h.getKind() == HeartbeatKind.JOIN
        || h.getKind() == HeartbeatKind.ALIVE || h.getKind() == HeartbeatKind.LEAVE)) {
      stores.announced(h.getWorkerId(), h.getRound(), h.getKind() != HeartbeatKind.LEAVE, nowMs);
    }
    return ok;
  }

  boolean isMember(int round, String worker) {
    return stores.speaksOnOwnTopic(worker) ? stores.isOwnTopicMember(round, worker)
        : !ownTopicsOnly && run.isMember(round, worker);
  }

  Set<String> of(int round) {
    Set<String> members = new TreeSet<>(stores.ownTopicMembers(round));
    for (String worker : ownTopicsOnly ? Set.<String>of() : run.members(round)) {
      if (!stores.speaksOnOwnTopic(worker)) {
        members.add(worker);
      }
    }
    return members;
  }

  /**
   * The members of {@code round} heard on their own topics at {@code sinceMs} or later: a
   * worker training there says so every few inner steps, so one that is merely slow is not
   * silent. The shared topic does not count: anyone may write there, for a worker that does
   * not exist.
   */
  Set<String> heardSince(int round, long sinceMs) {
    return stores.ownTopicMembersHeardSince(round, sinceMs);
  }
}
