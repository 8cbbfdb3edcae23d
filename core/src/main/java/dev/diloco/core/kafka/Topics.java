package dev.diloco.core.kafka;

import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;

/** Questions about a cluster's topics that every service asks at start. */
public final class Topics {
  private Topics() {}

  /** Partitions of {@code topic}; fails with what to do when it does not exist. */
  public static int partitions(KafkaClientConfig clients, String topic) {
    try (Admin admin = Admin.create(clients.admin())) {
      return admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS)
          .get(topic).partitions().size();
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot read topic " + topic + ": "
          + e.getCause().getMessage() + " (create the run's topics first)", e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading topic " + topic, e);
    } catch (TimeoutException e) {
      throw new IllegalStateException("the Kafka cluster at " + clients.bootstrapServers()
          + " did not answer within 30 s: is it running, and reachable from here?", e);
    }
  }
}
