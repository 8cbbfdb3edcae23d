package dev.diloco.launcher.command;

import dev.diloco.core.kafka.RunAcls;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.launcher.options.RunOptions;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diloco acls}: the least-privilege ACLs of a run's roles, printed or applied. */
@Command(
    name = "acls",
    mixinStandardHelpOptions = true,
    description = {
        "Prints the ACLs each role of a run needs, and nothing more, for a cluster whose "
            + "authorizer denies what no ACL allows; with --apply, creates them (as a principal "
            + "allowed to, e.g. the cluster's admin, via --client-config).",
        "A worker may write pseudo-gradients and heartbeats and read the model, weights and "
            + "commits; it may not write weights, commits or sums. The reducer reads chunks and "
            + "writes sums (and its Kafka Streams group, transactions and internal topics); the "
            + "optimizer reads sums and writes rounds; an auditor reads the whole run."})
public final class AclsCommand implements Callable<Integer> {

  @Mixin
  RunOptions run;

  @Option(names = "--worker", paramLabel = "PRINCIPAL",
      description = "A worker's principal, e.g. User:worker-1 (repeatable).")
  List<String> workers = new ArrayList<>();

  @Option(names = "--reducer", paramLabel = "PRINCIPAL", description = "The reducer's principal.")
  List<String> reducers = new ArrayList<>();

  @Option(names = "--optimizer", paramLabel = "PRINCIPAL",
      description = "The outer optimizer's principal.")
  List<String> optimizers = new ArrayList<>();

  @Option(names = "--auditor", paramLabel = "PRINCIPAL",
      description = "A principal that may read the whole run (inspect, replay, export).")
  List<String> auditors = new ArrayList<>();

  private static final int IN_EFFECT_SECONDS = 30;

  @Option(names = "--apply", description = "Create the ACLs on the cluster (default: print).")
  boolean apply;

  @Spec
  CommandSpec command;

  @Override
  public Integer call() throws Exception {
    RunTopics topics = run.topics();
    List<AclBinding> bindings = new ArrayList<>();
    workers.forEach(p -> bindings.addAll(RunAcls.of(topics, RunAcls.Role.WORKER, p)));
    reducers.forEach(p -> bindings.addAll(RunAcls.of(topics, RunAcls.Role.REDUCER, p)));
    optimizers.forEach(p -> bindings.addAll(RunAcls.of(topics, RunAcls.Role.OPTIMIZER, p)));
    auditors.forEach(p -> bindings.addAll(RunAcls.of(topics, RunAcls.Role.AUDITOR, p)));
    if (bindings.isEmpty()) {
      throw new IllegalArgumentException("name at least one principal: --worker, --reducer, "
          + "--optimizer or --auditor");
    }
    PrintWriter out = command.commandLine().getOut();
    bindings.forEach(b -> out.println(RunAcls.describe(b)));
    if (apply) {
      try (Admin admin = Admin.create(run.clients().admin())) {
        admin.createAcls(bindings).all().get(60, TimeUnit.SECONDS);
        awaitInEffect(admin, bindings);
      } catch (java.util.concurrent.ExecutionException e) {
        throw new IllegalStateException("creating the ACLs failed: " + e.getCause().getMessage()
            + " (apply them as a principal allowed to alter the cluster's ACLs)", e.getCause());
      }
      out.printf("%d ACLs created for run %s%n", bindings.size(), run.runId());
    }
    return 0;
  }

  /**
   * Waits until the broker answering lists every binding: the controller acknowledges ACLs
   * once it has committed them, and a broker applies them a moment later, so a service started
   * right after could still be refused.
   */
  private static void awaitInEffect(Admin admin, List<AclBinding> bindings)
      throws java.util.concurrent.ExecutionException, InterruptedException,
      java.util.concurrent.TimeoutException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(IN_EFFECT_SECONDS);
    while (!admin.describeAcls(AclBindingFilter.ANY).values().get(30, TimeUnit.SECONDS)
        .containsAll(bindings)) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the ACLs were created, but the broker did not list "
            + "them within " + IN_EFFECT_SECONDS + " s");
      }
      Thread.sleep(100);
    }
  }
}
