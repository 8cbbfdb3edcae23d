package dev.diloco.reducer;

import static dev.diloco.reducer.ReducerDriver.TIMEOUT;
import static dev.diloco.reducer.ReducerDriver.WORKERS;
import static dev.diloco.reducer.ReducerDriver.chunksOf;
import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.schemas.DeadLetter;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.HeartbeatKind;
import dev.diloco.schemas.PseudoGradientChunk;
import dev.diloco.schemas.ReducedChunk;
import dev.diloco.schemas.RoundFailure;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the reducer waits for and for how long: a worker's heartbeat, the next round's commit,
 * a silent member, the round's deadline.
 */
class ReducerRoundsTest {

  @TempDir
  Path stateDir;

  private ReducerDriver reducer;

  @BeforeEach
  void start() {
    reducer = new ReducerDriver(stateDir, 0);
  }

  @AfterEach
  void stop() {
    reducer.close();
  }

  /**
   * A worker's heartbeat may reach the reducer after its chunks: they wait, and are summed
   * when it shows up. One that never joins is rejected at the deadline; a second chunk of a
   * waiting worker is a duplicate (the first counts).
   */
  @Test
  void aChunkOfAWorkerNotYetJoinedWaitsForItsHeartbeatAndOneThatNeverJoinsIsRejected() {
    PseudoGradientChunk early = chunksOf("w3", 0, 4).get(0);
    reducer.send(early);
    reducer.send(chunksOf("w3", 0, 5).get(0)); // its restart's chunk: the first one counts
    reducer.send(chunksOf("stranger", 0, 4).get(1)); // a chunk whose sum stays open
    assertThat(reducer.letters()).extracting(DeadLetter::getReason)
        .containsExactly(DeadLetterReason.DUPLICATE);
    reducer.join("w3", 0);
    for (String w : WORKERS) {
      reducer.send(chunksOf(w, 0, 4).get(0));
    }
    assertThat(reducer.reduced.isEmpty()).as("w3 is a member now, and its chunk has not been added")
        .isTrue();
    reducer.advance(Duration.ofSeconds(1)); // the next check adds it
    ReducedChunk r = AvroSerde.of(ReducedChunk.class).decode(reducer.reduced.readValue());
    assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
        .containsExactly("w0", "w1", "w2", "w3");
    assertThat(r.getComplete()).isTrue();

    reducer.advance(TIMEOUT);
    DeadLetter never = reducer.letters().get(0);
    assertThat(never.getReason()).isEqualTo(DeadLetterReason.WORKER_NOT_IN_ROUND);
    assertThat(never.getWorkerId()).isEqualTo("stranger");
    assertThat(never.getDetail()).contains("worker stranger had not joined round 0 when its "
        + "deadline passed");
  }

  /**
   * A worker sends round r + 1 after reading its commit, so its chunk may reach the reducer
   * before the commit does: it waits, and is summed when the round opens. One whose round never
   * opens is rejected a round timeout after it came.
   */
  @Test
  void aChunkOfTheNextRoundWaitsForItsCommitAndOneWhoseRoundNeverOpensIsRejected() {
    WORKERS.forEach(w -> reducer.join(w, 1));
    reducer.send(chunksOf("w0", 1, 5).get(0)); // ahead of commit 1
    assertThat(reducer.letters()).isEmpty();
    assertThat(reducer.pointerCount()).isOne();
    reducer.commit(1);
    reducer.advance(Duration.ofSeconds(1)); // the next check sums it
    reducer.send(chunksOf("w1", 1, 5).get(0));
    reducer.send(chunksOf("w2", 1, 5).get(0));
    assertThat(reducer.readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getRound()).isEqualTo(1);
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
          .containsExactly("w0", "w1", "w2");
    });

    reducer.send(chunksOf("w0", 2, 5).get(1)); // round 2 never opens
    reducer.send(chunksOf("w0", 4, 5).get(1)); // nor does a round further ahead: rejected at once
    assertThat(reducer.letters()).singleElement().satisfies(l -> {
      assertThat(l.getReason()).isEqualTo(DeadLetterReason.ROUND_NOT_OPEN);
      assertThat(l.getRound()).isEqualTo(4);
    });
    reducer.advance(TIMEOUT.plusSeconds(1));
    assertThat(reducer.letters()).singleElement().satisfies(l -> {
      assertThat(l.getReason()).isEqualTo(DeadLetterReason.ROUND_NOT_OPEN);
      assertThat(l.getRound()).isEqualTo(2);
      assertThat(l.getDetail()).contains("round 2 is not open here yet: the open round is 1")
          .contains("after the chunk came");
    });
    assertThat(reducer.pointerCount()).isZero();
  }

  /**
   * A worker that joins and never sends (a forged JOIN, a worker gone) holds a sum only for a
   * grace: once it has a quorum, at least two minutes after its first contribution, and 1,000
   * of them no longer than one. A member that is sending this round is waited for, to the
   * deadline.
   */
  @Test
  void aSilentMemberHoldsASumOnlyForAGraceAndASendingOneIsWaitedFor() {
    for (int g = 0; g < 1_000; g++) {
      reducer.join("ghost-" + g, 0);
    }
    for (String w : WORKERS) {
      reducer.send(chunksOf(w, 0, 12).get(0));
    }
    for (String w : List.of("w0", "w1")) {
      reducer.send(chunksOf(w, 0, 12).get(1)); // w2's chunk 1 has not come, but w2 is sending
    }
    reducer.advance(Duration.ofSeconds(110));
    assertThat(reducer.reduced.isEmpty()).as("within the grace").isTrue();
    reducer.advance(Duration.ofSeconds(11));
    assertThat(reducer.readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getChunkIndex()).isZero();
      assertThat(r.getComplete()).isFalse();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
          .containsExactlyElementsOf(WORKERS);
    });
    reducer.send(chunksOf("w2", 0, 12).get(1));
    assertThat(reducer.readReduced()).as("chunk 1 waited for w2, not for the ghost").isEmpty();
    reducer.advance(Duration.ofSeconds(1));
    assertThat(reducer.readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getChunkIndex()).isOne();
      assertThat(r.getContributors()).hasSize(3);
    });
  }

  /**
   * A member that has sent nothing of the round but says on its own topic that it trains (a
   * slow worker) is waited for past the grace, as long as it keeps saying so; once it falls
   * silent for a grace, the sum goes out without it. The shared topic does not count.
   */
  @Test
  void aMemberHeardTrainingOnItsOwnTopicIsWaitedForAndOneThatFallsSilentIsNot() {
    reducer.announceOnTopicOf("w1", "w1", 0, HeartbeatKind.JOIN);
    reducer.send(chunksOf("w0", 0, 14).get(0));
    reducer.send(chunksOf("w2", 0, 14).get(0));
    reducer.advance(Duration.ofSeconds(100));
    reducer.progressOnOwnTopic("w1", 0, 5);
    reducer.heartbeat("w0", 0, HeartbeatKind.ALIVE); // the shared topic: no news of w1
    reducer.advance(Duration.ofSeconds(30)); // 130 s: past the grace, w1 heard 30 s ago
    assertThat(reducer.readReduced()).as("w1 trains: waited for").isEmpty();
    reducer.advance(Duration.ofSeconds(91)); // w1 heard 121 s ago: silent for a grace
    assertThat(reducer.readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getComplete()).isFalse();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
          .containsExactly("w0", "w2");
    });
  }

  @Test
  void atTheDeadlineAQuorumIsSummedAndNoQuorumFailsTheRound() {
    // Chunks 0-2 get two contributors (the quorum), chunk 3 only one.
    for (String w : List.of("w0", "w1")) {
      chunksOf(w, 0, 3).subList(0, 3).forEach(reducer::send);
    }
    reducer.send(chunksOf("w2", 0, 3).get(3));
    assertThat(reducer.reduced.isEmpty()).isTrue();

    reducer.advance(TIMEOUT.plusSeconds(1));
    List<ReducedChunk> partial = reducer.readReduced();
    assertThat(partial).hasSize(3).allSatisfy(r -> {
      assertThat(r.getComplete()).isFalse();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId()).containsExactly("w0", "w1");
    });
    RoundFailure failure = AvroSerde.of(RoundFailure.class).decode(reducer.failures.readValue());
    assertThat(failure.getRound()).isZero();
    assertThat(failure.getReason()).contains("chunks [3] had fewer than 2 contributors");
    assertThat(failure.getContributors()).containsExactly("w2");
    // After the deadline the round takes nothing more.
    reducer.send(chunksOf("w0", 0, 3).get(3));
    assertThat(reducer.letters()).extracting(DeadLetter::getReason)
        .containsExactly(DeadLetterReason.LATE);
  }

  @Test
  void aWorkerThatLeavesIsNoLongerWaitedFor() {
    reducer.leave("w2", 0);
    for (String w : List.of("w0", "w1")) {
      reducer.send(chunksOf(w, 0, 8).get(2));
    }
    assertThat(reducer.readReduced()).singleElement()
        .satisfies(r -> assertThat(r.getComplete()).isTrue());
  }

  /**
   * A LEAVE that reaches the membership store after the other members' last chunks (the store
   * is global, updated on a thread of its own) completes their sum at the next check, not a
   * grace later. Found by WorkerIntegrationTest under load: a worker that left round 0 after one
   * step held it two minutes.
   */
  @Test
  void aLeaveAfterTheLastChunkCompletesTheSumAtTheNextCheck() {
    for (String w : List.of("w0", "w1")) {
      reducer.send(chunksOf(w, 0, 8).get(2));
    }
    assertThat(reducer.readReduced()).as("w2 is a member still").isEmpty();
    reducer.leave("w2", 0);
    reducer.advance(Duration.ofSeconds(1));
    assertThat(reducer.readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getComplete()).isTrue();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
          .containsExactly("w0", "w1");
    });
  }

  /**
   * A worker with a topic of its own (only its principal may write it) is believed there alone:
   * a LEAVE or a JOIN for it on the shared membership topic, which every worker may write,
   * changes nothing once it has announced itself on its own topic; its own LEAVE does. A
   * heartbeat there must be its own, and for the open round or the next.
   */
  @Test
  void aWorkerThatAnnouncesItselfOnItsOwnTopicIsBelievedThereAlone() {
    reducer.announceOnTopicOf("w1", "w1", 0, HeartbeatKind.JOIN);
    reducer.leave("w1", 0); // forged, on the shared topic
    reducer.send(chunksOf("w0", 0, 13).get(0));
    reducer.send(chunksOf("w2", 0, 13).get(0));
    assertThat(reducer.readReduced()).as("still waiting for w1").isEmpty();
    reducer.sendOnTopicOf("w1", chunksOf("w1", 0, 13).get(0));
    assertThat(reducer.readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getComplete()).isTrue();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
          .containsExactly("w0", "w1", "w2");
    });

    reducer.announceOnTopicOf("w1", "w1", 0, HeartbeatKind.LEAVE);
    reducer.join("w1", 0); // forged again: w1 has left, and is not waited for
    reducer.send(chunksOf("w0", 0, 13).get(1));
    reducer.send(chunksOf("w2", 0, 13).get(1));
    assertThat(reducer.readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getComplete()).isTrue();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
          .containsExactly("w0", "w2");
    });

    reducer.announceOnTopicOf("w1", "w0", 0, HeartbeatKind.LEAVE); // w1 speaking for w0
    reducer.announceOnTopicOf("w1", "w1", 7, HeartbeatKind.JOIN); // far ahead
    assertThat(reducer.letters()).extracting(DeadLetter::getReason).containsExactly(
        DeadLetterReason.PRINCIPAL_MISMATCH, DeadLetterReason.ROUND_NOT_OPEN);
    reducer.send(chunksOf("w0", 0, 13).get(2));
    reducer.send(chunksOf("w2", 0, 13).get(2));
    assertThat(reducer.readReduced()).as("w0 is still a member; its chunk completes the sum")
        .singleElement().satisfies(r -> assertThat(r.getContributors()).hasSize(2));
  }

  /**
   * On a cluster with ACLs every worker has a topic of its own, and a reducer that believes own
   * topics only counts no JOIN of the shared topic, which any worker may write: a thousand
   * forged ones (which cost the default reducer a grace, above) hold no sum, and a worker that
   * joined only there is no member.
   */
  @Test
  void aReducerThatBelievesOwnTopicsOnlyIsHeldByNoJoinOfTheSharedTopic(@TempDir Path own) {
    try (ReducerDriver acl = new ReducerDriver(own, new ReducerConfig(ReducerDriver.RUN, 2,
        Duration.ofSeconds(1), 1, 0, ReducerConfig.DEFAULT_MEMBER_GRACE, true),
        ReducerDriver.description())) {
      for (int g = 0; g < 1_000; g++) {
        acl.join("ghost-" + g, 0);
      }
      for (String w : List.of("w0", "w1")) {
        acl.announceOnTopicOf(w, w, 0, HeartbeatKind.JOIN);
        acl.sendOnTopicOf(w, chunksOf(w, 0, 12).get(0));
      }
      assertThat(acl.readReduced()).as("w0 and w1 are every member: at once, no grace")
          .singleElement().satisfies(r -> {
            assertThat(r.getComplete()).isTrue();
            assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
                .containsExactly("w0", "w1");
          });
      acl.send(chunksOf("w2", 0, 12).get(1)); // joined on the shared topic alone
      acl.advance(ReducerDriver.TIMEOUT.plusSeconds(1));
      assertThat(acl.letters()).extracting(DeadLetter::getReason)
          .contains(DeadLetterReason.WORKER_NOT_IN_ROUND);
    }
  }

  /**
   * Once a round is committed the members of the rounds before it are forgotten, and a
   * heartbeat for one of them is passed over: the store holds the open rounds' members, not
   * every (round, worker) of the run. The open round still waits for all of its own.
   */
  @Test
  void theMembersOfClosedRoundsAreForgotten() {
    for (int r = 1; r <= 5; r++) {
      reducer.commit(r);
      for (String w : WORKERS) {
        reducer.join(w, r);
      }
    }
    reducer.join("w0", 2); // late, for a closed round
    reducer.heartbeat("w1", 6, HeartbeatKind.ALIVE); // the next round's: kept
    List<String> keys = new java.util.ArrayList<>();
    org.apache.kafka.streams.state.KeyValueStore<String, byte[]> members =
        reducer.driver.getKeyValueStore(RunView.MEMBERS);
    try (var it = members.all()) {
      it.forEachRemaining(kv -> keys.add(kv.key));
    }
    assertThat(keys).containsExactly("0000000005/w0", "0000000005/w1", "0000000005/w2",
        "0000000006/w1");
    reducer.send(chunksOf("w0", 5, 3).get(0));
    reducer.send(chunksOf("w1", 5, 3).get(0));
    assertThat(reducer.readReduced()).as("waiting for w2").isEmpty();
    reducer.send(chunksOf("w2", 5, 3).get(0));
    assertThat(reducer.readReduced()).singleElement()
        .satisfies(r -> assertThat(r.getComplete()).isTrue());
  }

  /**
   * Every member in is not enough while they are fewer than the quorum: a worker that died
   * before it announced itself is waited for (the fault soak found a round closed without one).
   */
  @Test
  void aSumOfEveryMemberWaitsWhileTheyAreFewerThanTheQuorum() {
    reducer.commit(1);
    reducer.join("w0", 1); // w1 has not announced itself yet; the quorum is 2
    reducer.send(chunksOf("w0", 1, 4).get(0));
    assertThat(reducer.readReduced()).as("one member, under the quorum").isEmpty();
    reducer.join("w1", 1);
    reducer.send(chunksOf("w1", 1, 4).get(0));
    assertThat(reducer.readReduced()).singleElement().satisfies(r -> {
      assertThat(r.getComplete()).isTrue();
      assertThat(r.getContributors()).extracting(c -> c.getWorkerId())
          .containsExactly("w0", "w1");
    });
  }
}
