package dev.diloco.core.kafka;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

/**
 * The least-privilege ACLs of each role in a run, for a cluster whose authorizer denies what
 * no ACL allows. A worker may write its own pseudo-gradient topic (named by its principal's
 * name, which is then its worker id) and heartbeats, and read the model, weights, commits,
 * sums and the optimizer's momentum (a worker steps to the next round from the sums itself),
 * and nothing else: it cannot write weights, commits, sums or another worker's chunks. The
 * reducer reads chunks and writes sums; the optimizer reads sums and writes rounds. Every
 * role may describe the run's topics (the start-up check) and nothing outside the run.
 */
public final class RunAcls {
  private RunAcls() {}

  public enum Role {
    WORKER, REDUCER, OPTIMIZER,
    /** Reads the whole run: inspect, replay, export. */
    AUDITOR;

    public static Role parse(String name) {
      try {
        return valueOf(name.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("role must be worker, reducer, optimizer or auditor, "
            + "got '" + name + "'");
      }
    }
  }

  /** The reducer's Kafka Streams application id: its group, transactions and internal topics. */
  public static String reducerApplicationId(String runId) {
    return "diloco-reducer-" + runId;
  }

  /** The optimizer's consumer group and transactional id. */
  public static String optimizerId(String runId) {
    return "diloco-optimizer-" + runId;
  }

  /** The ACLs {@code principal} (e.g. {@code User:worker-1}) needs to act as {@code role}. */
  public static List<AclBinding> of(RunTopics topics, Role role, String principal) {
    if (!principal.matches("[A-Za-z]+:.+")) {
      throw new IllegalArgumentException("a principal is TYPE:NAME, e.g. User:worker-1, got '"
          + principal + "'");
    }
    Acls acls = new Acls(principal);
    String run = RunTopics.PREFIX + topics.runId() + ".";
    acls.prefixedTopic(run, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS);
    switch (role) {
      case WORKER -> {
        acls.topic(topics.model(), AclOperation.READ);
        acls.topic(topics.weights(), AclOperation.READ);
        acls.topic(topics.commits(), AclOperation.READ);
        acls.topic(topics.reduced(), AclOperation.READ);
        acls.topic(topics.optimizerState(), AclOperation.READ);
        // Its own chunk topic only, named by its principal: a chunk there is the worker's.
        acls.topic(topics.workerPseudoGradients(principal.substring(principal.indexOf(':') + 1)),
            AclOperation.WRITE);
        acls.topic(topics.membership(), AclOperation.WRITE);
      }
      case REDUCER -> {
        acls.prefixedTopic(topics.pseudoGradients(), AclOperation.READ); // every worker's
        for (String t : List.of(topics.model(), topics.commits(), topics.membership())) {
          acls.topic(t, AclOperation.READ);
        }
        for (String t : List.of(topics.reduced(), topics.roundFailures(),
            topics.deadLetters())) {
          acls.topic(t, AclOperation.WRITE);
        }
        // Kafka Streams: its consumer group, its exactly-once transactions and its internal
        // topics are all named by the application id.
        String app = reducerApplicationId(topics.runId());
        acls.add(ResourceType.GROUP, app, PatternType.PREFIXED, AclOperation.READ);
        acls.add(ResourceType.TRANSACTIONAL_ID, app, PatternType.PREFIXED, AclOperation.WRITE,
            AclOperation.DESCRIBE);
        acls.prefixedTopic(app, AclOperation.ALL);
      }
      case OPTIMIZER -> {
        for (String t : List.of(topics.reduced(), topics.roundFailures(), topics.commits(),
            topics.weights(), topics.model(), topics.optimizerState())) {
          acls.topic(t, AclOperation.READ);
        }
        for (String t : List.of(topics.weights(), topics.commits(), topics.model(),
            topics.optimizerState(), topics.deadLetters())) {
          acls.topic(t, AclOperation.WRITE);
        }
        String id = optimizerId(topics.runId());
        acls.add(ResourceType.GROUP, id, PatternType.LITERAL, AclOperation.READ);
        acls.add(ResourceType.TRANSACTIONAL_ID, id, PatternType.LITERAL, AclOperation.WRITE,
            AclOperation.DESCRIBE);
      }
      case AUDITOR -> acls.prefixedTopic(run, AclOperation.READ);
      default -> throw new IllegalArgumentException("no ACLs for role " + role);
    }
    return acls.list;
  }

  /** One line: principal, operation, resource. */
  public static String describe(AclBinding b) {
    return String.format("%-24s %-8s %-16s %-16s %s", b.entry().principal(),
        b.entry().permissionType(), b.entry().operation(), b.pattern().resourceType() + " "
            + b.pattern().patternType().name().toLowerCase(Locale.ROOT), b.pattern().name());
  }

  private static final class Acls {
    final String principal;
    final List<AclBinding> list = new ArrayList<>();

    Acls(String principal) {
      this.principal = principal;
    }

    void topic(String name, AclOperation... ops) {
      add(ResourceType.TOPIC, name, PatternType.LITERAL, ops);
    }

    void prefixedTopic(String prefix, AclOperation... ops) {
      add(ResourceType.TOPIC, prefix, PatternType.PREFIXED, ops);
    }

    void add(ResourceType type, String name, PatternType pattern, AclOperation... ops) {
      for (AclOperation op : ops) {
        list.add(new AclBinding(new ResourcePattern(type, name, pattern),
            new AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW)));
      }
    }
  }
}
