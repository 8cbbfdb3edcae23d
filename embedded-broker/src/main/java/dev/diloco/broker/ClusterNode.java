package dev.diloco.broker;

import java.util.ArrayList;
import java.util.List;

/**
 * One node of a KRaft cluster of N nodes on 127.0.0.1, each a broker and a controller (combined
 * mode, as small production clusters run): its id (1..N), every node's controller port (the
 * static voter set, in id order) and the cluster's id, which all nodes format with. A cluster of
 * three or more keeps its topics on three replicas and accepts a write once two have it
 * ({@link #replication()}, {@link #minInsyncReplicas()}), so it survives one node down.
 */
public record ClusterNode(int nodeId, List<Integer> controllerPorts, String clusterId) {

  public ClusterNode {
    controllerPorts = List.copyOf(controllerPorts);
    if (controllerPorts.isEmpty() || nodeId < 1 || nodeId > controllerPorts.size()) {
      throw new IllegalArgumentException("node " + nodeId + " is not one of the cluster's "
          + controllerPorts.size() + " nodes (ids 1.." + controllerPorts.size() + ")");
    }
    for (int port : controllerPorts) {
      if (port < 1 || port > 65535) {
        throw new IllegalArgumentException("a controller port must be in 1..65535, got " + port);
      }
    }
    if (clusterId == null || clusterId.isBlank()) {
      throw new IllegalArgumentException("a cluster needs an id that every node formats with");
    }
  }

  /** The nodes of a new cluster of {@code size} on free controller ports, under a new id. */
  public static List<ClusterNode> plan(int size) {
    if (size < 1 || size > 9) {
      throw new IllegalArgumentException("a loopback cluster has 1 to 9 nodes, got " + size);
    }
    List<Integer> ports = new ArrayList<>();
    while (ports.size() < size) {
      int port = Ports.free();
      if (!ports.contains(port)) {
        ports.add(port);
      }
    }
    String id = org.apache.kafka.common.Uuid.randomUuid().toString();
    List<ClusterNode> nodes = new ArrayList<>();
    for (int n = 1; n <= size; n++) {
      nodes.add(new ClusterNode(n, ports, id));
    }
    return nodes;
  }

  /** Node {@code id} of the cluster of {@code voters}: {@code 1@127.0.0.1:9101,2@...}. */
  public static ClusterNode of(int id, String voters, String clusterId) {
    List<Integer> ports = new ArrayList<>();
    for (String voter : voters.split(",")) {
      String[] idAndAddress = voter.trim().split("@");
      String[] hostAndPort = idAndAddress.length == 2 ? idAndAddress[1].split(":") : new String[0];
      if (hostAndPort.length != 2 || !hostAndPort[0].equals(Ports.LOOPBACK)
          || !idAndAddress[0].equals(Integer.toString(ports.size() + 1))) {
        throw new IllegalArgumentException("voter '" + voter + "' of '" + voters + "' is not "
            + (ports.size() + 1) + "@" + Ports.LOOPBACK + ":PORT (ids 1..N in order, loopback)");
      }
      try {
        ports.add(Integer.parseInt(hostAndPort[1]));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("voter '" + voter + "' has no port number", e);
      }
    }
    return new ClusterNode(id, ports, clusterId);
  }

  /** A cluster of one: the embedded broker's default, with a new id. */
  static ClusterNode single(int controllerPort) {
    return new ClusterNode(1, List.of(controllerPort),
        org.apache.kafka.common.Uuid.randomUuid().toString());
  }

  public int size() {
    return controllerPorts.size();
  }

  public int controllerPort() {
    return controllerPorts.get(nodeId - 1);
  }

  /** {@code controller.quorum.voters}: every node's id and controller address. */
  public String voters() {
    List<String> voters = new ArrayList<>();
    for (int n = 1; n <= size(); n++) {
      voters.add(n + "@" + Ports.LOOPBACK + ":" + controllerPorts.get(n - 1));
    }
    return String.join(",", voters);
  }

  /** Replicas of every topic: three when the cluster has them. */
  public int replication() {
    return Math.min(3, size());
  }

  /** Replicas that must have a write before it is acknowledged: a majority of the replicas. */
  public int minInsyncReplicas() {
    return dev.diloco.core.kafka.RunTopics.minInsyncReplicas(replication());
  }
}
