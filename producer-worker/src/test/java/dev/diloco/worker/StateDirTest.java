package dev.diloco.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.diloco.core.kafka.AvroSerde;
import dev.diloco.schemas.WorkerState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateDirTest {

  /** When the run's description was written: which run of its id this is. */
  private static final long RUN_AT = 1_700_000_000_000L;

  @TempDir
  Path dir;

  private static StateDir.Saved saved(int round, boolean residual) {
    return new StateDir.Saved(round, new AdamW.State(7, new float[] {1f, -2f, 3e-9f},
        new float[] {4f, 5f, 6f}), residual ? new float[] {-0.5f, 0f, 0.25f} : null,
        new float[] {0.125f, Float.MIN_VALUE, -7f}, 2.5f);
  }

  @Test
  void theLastSavedRoundComesBackBitForBit() {
    try (StateDir state = StateDir.open(dir, "run", "w0", 3, RUN_AT)) {
      assertThat(state.load(9)).isEmpty();
      state.save(saved(4, true));
      state.save(saved(5, false));
      StateDir.Saved back = state.load(9).orElseThrow();
      assertThat(back.round()).isEqualTo(5);
      assertThat(back.inner().steps()).isEqualTo(7);
      assertThat(back.inner().firstMoment()).containsExactly(1f, -2f, 3e-9f);
      assertThat(back.inner().secondMoment()).containsExactly(4f, 5f, 6f);
      assertThat(back.residual()).isNull();
      assertThat(back.pseudoGradient()).containsExactly(0.125f, Float.MIN_VALUE, -7f);
      assertThat(back.meanInnerLoss()).isEqualTo(2.5f);
      state.save(saved(6, true));
      assertThat(state.load(9).orElseThrow().residual()).containsExactly(-0.5f, 0f, 0.25f);
    }
    // No temporary file is left; a later process reads what the earlier one wrote.
    assertThat(dir.resolve(StateDir.FILE + ".tmp")).doesNotExist();
    try (StateDir again = StateDir.open(dir, "run", "w0", 3, RUN_AT)) {
      assertThat(again.load(9).orElseThrow().round()).isEqualTo(6);
    }
  }

  @Test
  void anOverlappedWorkersNextStartComesBackAndIsCoveredByTheDigest() throws Exception {
    StateDir.Saved s = saved(3, true);
    try (StateDir state = StateDir.open(dir, "run", "w0", 3, RUN_AT)) {
      state.save(new StateDir.Saved(3, s.inner(), s.residual(), s.pseudoGradient(), 2.5f,
          new float[] {9f, -1f, 0.5f}));
      StateDir.Saved back = state.load(9).orElseThrow();
      assertThat(back.nextStart()).containsExactly(9f, -1f, 0.5f);
      assertThat(back.pseudoGradient()).containsExactly(0.125f, Float.MIN_VALUE, -7f);
      assertThat(back.residual()).containsExactly(-0.5f, 0f, 0.25f);
      Path file = dir.resolve(StateDir.FILE);
      byte[] bytes = Files.readAllBytes(file);
      bytes[bytes.length - 2] ^= 1; // a bit of the next start, the file's last field
      Files.write(file, bytes);
      assertThatThrownBy(() -> state.load(9)).hasMessageContaining("SHA-256");
    }
  }

  @Test
  void aStateThatIsNotThisWorkersOrChangedOnDiskIsRefusedByName() throws Exception {
    try (StateDir state = StateDir.open(dir, "run", "w0", 3, RUN_AT)) {
      state.save(saved(2, false));
    }
    try (StateDir other = StateDir.open(dir, "run", "w1", 3, RUN_AT)) {
      assertThatThrownBy(() -> other.load(9)).hasMessageContaining(StateDir.FILE)
          .hasMessageContaining("it is worker w0's of run run, not worker w1's of run run")
          .hasMessageContaining("move the file away");
    }
    try (StateDir other = StateDir.open(dir, "another", "w0", 3, RUN_AT)) {
      assertThatThrownBy(() -> other.load(9)).hasMessageContaining("not worker w0's of run another");
    }
    try (StateDir other = StateDir.open(dir, "run", "w0", 4, RUN_AT)) {
      assertThatThrownBy(() -> other.load(9)).hasMessageContaining("it holds 3 parameters; this run's "
          + "model has 4");
    }
    Path file = dir.resolve(StateDir.FILE);
    byte[] bytes = Files.readAllBytes(file);
    bytes[bytes.length - 60] ^= 1; // a bit of the pseudo-gradient
    Files.write(file, bytes);
    try (StateDir state = StateDir.open(dir, "run", "w0", 3, RUN_AT)) {
      assertThatThrownBy(() -> state.load(9)).hasMessageContaining("SHA-256");
      Files.write(file, java.util.Arrays.copyOf(bytes, 40)); // cut short
      assertThatThrownBy(() -> state.load(9)).hasMessageContaining("cannot be decoded");
      Files.write(file, new byte[] {1, 2, 3});
      assertThatThrownBy(() -> state.load(9)).hasMessageContaining("cannot be decoded");
    }
  }

  @Test
  void theCountsAreUnderTheDigestAndAnEarlierRunsOrAFutureRoundsStateIsRefused()
      throws Exception {
    try (StateDir state = StateDir.open(dir, "run", "w0", 3, RUN_AT)) {
      state.save(saved(2, false));
    }
    Path file = dir.resolve(StateDir.FILE);
    AvroSerde<WorkerState> serde = AvroSerde.of(WorkerState.class);
    WorkerState written = serde.decode(Files.readAllBytes(file));
    for (WorkerState changed : List.of(
        WorkerState.newBuilder(written).setInnerSteps(written.getInnerSteps() + 1).build(),
        WorkerState.newBuilder(written).setRound(3).build(),
        WorkerState.newBuilder(written).setMeanInnerLoss(0.5f).build(),
        WorkerState.newBuilder(written).setRunDescribedAtMs(RUN_AT + 1).build())) {
      Files.write(file, serde.encode(changed)); // the digest it was written with
      try (StateDir state = StateDir.open(dir, "run", "w0", 3, RUN_AT)) {
        assertThatThrownBy(() -> state.load(9)).hasMessageContaining("its SHA-256 is not the one "
            + "it was written with");
      }
    }
    Files.write(file, serde.encode(written));
    try (StateDir later = StateDir.open(dir, "run", "w0", 3, RUN_AT + 5000)) {
      assertThatThrownBy(() -> later.load(9)).hasMessageContaining("it is of an earlier run "
          + "under the same run id (described at 1700000000000 ms; this run at 1700000005000 ms)");
    }
    try (StateDir state = StateDir.open(dir, "run", "w0", 3, RUN_AT)) {
      assertThatThrownBy(() -> state.load(1)).hasMessageContaining("it is of round 2, and the "
          + "run has committed rounds up to 1 only");
      assertThat(state.load(2).orElseThrow().inner().steps()).isEqualTo(7);
    }
  }

  @Test
  void oneDirectoryServesOneProcessAtATime() {
    try (StateDir state = StateDir.open(dir, "run", "w0", 3, RUN_AT)) {
      assertThatThrownBy(() -> StateDir.open(dir, "run", "w0", 3, RUN_AT))
          .hasMessageContaining("is in use by another worker process");
    }
    StateDir.open(dir, "run", "w0", 3, RUN_AT).close(); // released with the first
    assertThatThrownBy(() -> new StateDir.Saved(0, new AdamW.State(0, new float[2],
        new float[2]), null, new float[3], 0f)).hasMessageContaining("differ in length");
  }
}
