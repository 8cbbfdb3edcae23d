package dev.diloco.launcher.options;

import dev.diloco.schemas.ModelDescription;
import dev.diloco.tokens.Manifest;
import dev.diloco.tokens.Sha256;
import java.nio.file.Files;
import java.nio.file.Path;

/** The tokenizer a command is given for a run: it must be the one the run's description names. */
public final class RunTokenizer {
  private RunTokenizer() {}

  /**
   * The tokenizer {@code diloco run --tokenizer} left in run directory {@code runDir} (the copy
   * beside the tokens it made, {@code tokens/}), when it is {@code run}'s; else null.
   */
  public static Path inRunDirectory(Path runDir, ModelDescription run) {
    if (runDir == null || run.getTokenizerSha256() == null) {
      return null;
    }
    Path manifest = runDir.resolve("tokens").resolve(Manifest.FILE);
    if (!Files.isRegularFile(manifest)) {
      return null;
    }
    Path file = manifest.getParent().resolve(Manifest.read(manifest).tokenizer().file());
    return Files.isRegularFile(file) && Sha256.of(file).equals(run.getTokenizerSha256())
        ? file : null;
  }

  /**
   * Refuses, by name, a {@code tokenizer} (null: none given) that is not a file or is not
   * {@code run}'s, or one given for a run over bytes. A run on token files without a manifest
   * names no tokenizer: any tokenizer is taken for it (its vocabulary is checked where it is
   * loaded).
   */
  public static void requireRuns(Path tokenizer, ModelDescription run) {
    if (tokenizer == null) {
      return;
    }
    if (!Files.isRegularFile(tokenizer)) {
      throw new IllegalArgumentException("tokenizer " + tokenizer + " is not a file");
    }
    if (run.getTokenizerSha256() == null && run.getArchitecture().getHfConfig() == null
        && run.getArchitecture().getVocabSize() == 256) {
      throw new IllegalArgumentException("run " + run.getRunId() + " reads bytes, not the "
          + "tokens of a tokenizer: leave --tokenizer out");
    }
    if (run.getTokenizerSha256() == null) {
      return;
    }
    String sha = Sha256.of(tokenizer);
    if (!sha.equals(run.getTokenizerSha256())) {
      throw new IllegalArgumentException("tokenizer " + tokenizer + " has SHA-256 " + sha
          + "; run " + run.getRunId() + "'s tokens were made by " + run.getTokenizerSha256());
    }
  }
}
