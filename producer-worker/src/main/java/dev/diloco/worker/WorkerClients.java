package dev.diloco.worker;

import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.log.CommitWatcher;
import dev.diloco.core.log.RoundLog;
import java.time.Duration;

/**
 * A worker's Kafka clients: what it reads (commits, weights) and writes (heartbeats, its
 * pseudo-gradient chunks), and the thread that does both while an overlapped worker trains.
 * Closed together, each within {@link #CLOSE_BOUND}.
 */
record WorkerClients(RoundLog log, CommitWatcher commits, Heartbeats heartbeats,
    ChunkPublisher publisher, RoundDownload download, NextRoundFetch ahead)
    implements AutoCloseable {

  /** How long each client may take to close. */
  static final Duration CLOSE_BOUND = Duration.ofSeconds(1);

  /** The clients of worker {@code settings.workerId()} of a run chunked as {@code plan}. */
  static WorkerClients open(WorkerSettings settings, RunTopics topics, RoundLog log,
      ChunkPlan plan, KafkaClientConfig clients) {
    // On a cluster with authentication the worker has a topic of its own, which only its
    // principal may write; elsewhere all workers share one.
    String worker = settings.workerId();
    String chunkTopic = RunTopics.canNameTopic(worker)
        && Topics.exists(clients, topics.workerPseudoGradients(worker))
        ? topics.workerPseudoGradients(worker) : topics.pseudoGradients();
    int partitions = Topics.partitions(clients, chunkTopic);
    CommitWatcher commits = new CommitWatcher(topics, clients);
    RoundDownload download = new RoundDownload(topics, plan, settings.format().codec(), log,
        worker, clients, KafkaClientConfig.READ_TIMEOUT);
    return new WorkerClients(log, commits, new Heartbeats(topics, worker,
        chunkTopic.equals(topics.pseudoGradients()) ? null : chunkTopic, partitions, clients),
        new ChunkPublisher(chunkTopic, topics, worker, plan, settings.format(), partitions,
            clients), download, new NextRoundFetch(commits, download, settings.roundTimeout()));
  }

  @Override
  public void close() {
    ahead.close(); // first: it may be using the others
    try (commits; heartbeats; publisher; download) {
      // closed in the reverse order
    }
  }
}
