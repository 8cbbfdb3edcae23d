package dev.diloco.bench;

import dev.diloco.bench.Fleet.Kind;
import dev.diloco.bench.Fleet.Service;
import dev.diloco.core.kafka.KafkaClientConfig;
import dev.diloco.core.kafka.RunTopics;
import dev.diloco.core.kafka.Topics;
import dev.diloco.core.log.CommitWatcher;
import dev.diloco.tokens.Manifest;
import dev.diloco.tokens.TokenShardWriter;
import dev.diloco.tokens.TokenizerFile;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code diloco bench data}: workers train on more tokens than their heap holds. It writes
 * {@code gigabytes} of random GPT-2 token ids as shards with a manifest (as {@code diloco
 * tokenize} would), starts an optimizer on them, a reducer and workers each a process at
 * {@code -Xmx heap}, and after every round asks each worker (jcmd) for its heap in use and its
 * live heap after a full GC: the shards are mapped from disk, so neither grows with the data.
 */
final class TokenDataBench {

  record Settings(double gigabytes, String heap, int workers, int rounds, int innerSteps,
      Path tokenizer) {
    Settings {
      if (!(gigabytes > 0) || workers < 1 || rounds < 1 || innerSteps < 1) {
        throw new IllegalArgumentException("the data benchmark needs > 0 GB, >= 1 worker, "
            + "round and inner step; got " + gigabytes + ", " + workers + ", " + rounds + ", "
            + innerSteps);
      }
      Fleet.requireHeap(heap);
    }
  }

  /** The heap of worker {@code worker} after round {@code round}: in use, and live after a GC. */
  record Sample(int round, String worker, long used, long live) {}

  private static final long SHARD_TOKENS = 100_000_000L;
  private final Settings s;
  private final PrintStream console;
  private long dataBytes;

  TokenDataBench(Settings settings, PrintStream console) {
    this.s = settings;
    this.console = console;
  }

  List<Sample> run(KafkaClientConfig clients, Path dir) throws Exception {
    long t0 = System.nanoTime();
    Path data = write(dir.resolve("tokens"));
    dataBytes = size(data);
    console.printf("wrote %.2f GB of tokens in %.1f s%n", dataBytes / 1e9,
        (System.nanoTime() - t0) / 1e9);
    RunTopics topics = new RunTopics("data");
    Topics.create(clients, topics.newTopics(2, (short) 1, clients));
    List<String> cluster = List.of("--run", topics.runId(), "--bootstrap-servers",
        clients.bootstrapServers());
    List<Sample> samples = new ArrayList<>();
    try (Fleet fleet = new Fleet(Files.createDirectories(dir.resolve("logs")));
        CommitWatcher commits = new CommitWatcher(topics, clients)) {
      fleet.start(new Service("optimizer", Kind.OPTIMIZER, "1g", "outer optimizer of run",
          Fleet.args(List.of("optimizer"), cluster, List.of("--start", "--model", "tiny",
              "--inner-steps", Integer.toString(s.innerSteps()), "--data", data.toString(),
              "--key", dir.resolve("optimizer.key").toString()))));
      fleet.start(new Service("reducer", Kind.REDUCER, "512m", "running on", Fleet.args(
          List.of("reducer"), cluster, List.of("--quorum", Integer.toString(s.workers()),
              "--state-dir", dir.resolve("reducer").toString(), "--metrics-every", "1h"))));
      for (int w = 0; w < s.workers(); w++) {
        fleet.start(new Service("w" + w, Kind.WORKER, s.heap(), "of run " + topics.runId(),
            Fleet.args(List.of("worker"), cluster, List.of("--worker-id", "w" + w, "--shard",
                Integer.toString(w), "--shards", Integer.toString(s.workers()), "--data",
                data.toString(), "--exit-with", Long.toString(ProcessHandle.current().pid())))));
      }
      for (int round = 1; round <= s.rounds(); round++) {
        int next = round;
        commits.await(next, Duration.ofMinutes(20)).filter(c -> c.getRound() >= next)
            .orElseThrow(() -> new IllegalStateException("round " + next + " was not committed "
                + "within 20 minutes; see " + dir.resolve("logs")));
        for (int w = 0; w < s.workers(); w++) {
          long[] heap = MemoryBench.heap(fleet.pid("w" + w));
          samples.add(new Sample(round, "w" + w, heap[0], heap[1]));
          console.printf("  round %d: worker w%d %s in use, %s live%n", round, w,
              MemoryBench.mib(heap[0]), MemoryBench.mib(heap[1]));
        }
      }
    }
    return samples;
  }

  /** Random token ids of GPT-2's vocabulary, in shards of 100M tokens, with their manifest. */
  private Path write(Path out) throws Exception {
    Files.createDirectories(out);
    try (TokenizerFile tok = TokenizerFile.load(s.tokenizer())) {
      long total = (long) (s.gigabytes() * 1e9 / 2);
      SplittableRandom random = new SplittableRandom(1);
      List<Manifest.Shard> train = new ArrayList<>();
      Manifest.Shard val = null;
      long left = total;
      for (int k = 0; left > 0; k++) {
        boolean isVal = k == 0; // the first 1M tokens are held out, the rest trains
        long n = isVal ? Math.min(1_000_000, left) : Math.min(SHARD_TOKENS, left);
        String name = isVal ? "val_000000.bin" : String.format("train_%06d.bin", k - 1);
        long bytes = 0;
        try (TokenShardWriter w = new TokenShardWriter(out.resolve(name), tok.vocabSize())) {
          for (long i = 0; i < n; i++) {
            int id = random.nextInt(tok.vocabSize() - 1); // no end-of-text
            w.write(id);
            bytes += tok.bytesOf(id);
          }
          w.close();
          Manifest.Shard shard = new Manifest.Shard(name, n, bytes, w.sha256());
          if (isVal) {
            val = shard;
          } else {
            train.add(shard);
          }
        }
        left -= n;
      }
      Files.copy(s.tokenizer(), out.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
      new Manifest(Manifest.FORMAT, new Manifest.TokenizerInfo("tokenizer.json", tok.sha256(),
          tok.vocabSize(), tok.endOfText().isPresent() ? tok.endOfText().getAsInt() : null), 2,
          List.of(new Manifest.Input("random GPT-2 token ids", 1)), train, val).write(out);
    }
    return out;
  }

  private static long size(Path dir) throws Exception {
    try (var files = Files.list(dir)) {
      return files.mapToLong(p -> p.toFile().length()).sum();
    }
  }

  String markdown(List<Sample> samples) {
    double dataBytes = this.dataBytes;
    StringBuilder md = new StringBuilder(String.format("# Workers on %.2f GB of tokens%n%n"
        + "%d workers at -Xmx%s, each a process, tiny model over GPT-2's vocabulary, H = %d; "
        + "heap in use after each round and live after a full GC (jcmd).%n%n"
        + "| round | worker | in use | live |%n| ---: | --- | ---: | ---: |%n", dataBytes / 1e9,
        s.workers(), s.heap(), s.innerSteps()));
    for (Sample x : samples) {
      md.append(String.format("| %d | %s | %s | %s |%n", x.round(), x.worker(),
          MemoryBench.mib(x.used()), MemoryBench.mib(x.live())));
    }
    long peak = samples.stream().mapToLong(Sample::used).max().orElse(0);
    md.append(String.format("%nPeak heap in use %s: %.3f of the data's size.%n",
        MemoryBench.mib(peak), peak / dataBytes));
    return md.toString();
  }
}
