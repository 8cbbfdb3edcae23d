package dev.diloco.core.rules;

import static org.assertj.core.api.Assertions.assertThat;

import dev.diloco.core.layout.ChunkPlan;
import dev.diloco.core.layout.ParameterLayout;
import dev.diloco.core.testing.TestRuns;
import dev.diloco.schemas.Contribution;
import dev.diloco.schemas.DeadLetterReason;
import dev.diloco.schemas.ModelDescription;
import dev.diloco.schemas.RoundCommit;
import java.nio.ByteBuffer;
import java.security.KeyPair;
import java.util.List;
import org.junit.jupiter.api.Test;

class CommitSignaturesTest {

  private static final KeyPair KEY = CommitSignatures.generate();
  private static final ModelDescription SIGNED = ModelDescription.newBuilder(
          TestRuns.description("signed", ParameterLayout.builder().add("w", 8).build(), 4))
      .setCommitKey(ByteBuffer.wrap(KEY.getPublic().getEncoded())).build();

  private static RoundCommit commit() {
    return RoundCommit.newBuilder(TestRuns.commit("signed", 3, new ChunkPlan(8, 4), 7L))
        .setContributors(List.of(new Contribution("w0", 100L, 10, 2.5f))).build();
  }

  @Test
  void aCommitSignedWithTheRunsKeyVerifiesAndAnyChangeToItDoesNot() {
    RoundCommit signed = CommitSignatures.sign(commit(), KEY.getPrivate());
    assertThat(CommitSignatures.check(SIGNED, signed).accepted()).isTrue();

    for (RoundCommit changed : List.of(
        RoundCommit.newBuilder(signed).setRound(4).build(),
        RoundCommit.newBuilder(signed).setWeightsSha256(ByteBuffer.wrap(new byte[32])
            .put(0, (byte) 1)).build(),
        RoundCommit.newBuilder(signed).setWeightsOffset(99).build(),
        RoundCommit.newBuilder(signed).setContributors(List.of()).build(),
        RoundCommit.newBuilder(signed).setOuterLearningRate(0.1).build())) {
      assertThat(CommitSignatures.check(SIGNED, changed)).as("%s", changed)
          .isInstanceOfSatisfying(Verdict.Reject.class, r -> {
            assertThat(r.reason()).isEqualTo(DeadLetterReason.BAD_SIGNATURE);
            assertThat(r.detail()).contains("does not verify with run signed's key");
          });
    }
    RoundCommit otherKey = CommitSignatures.sign(commit(), CommitSignatures.generate()
        .getPrivate());
    assertThat(CommitSignatures.check(SIGNED, otherKey).accepted()).isFalse();
    assertThat(CommitSignatures.check(SIGNED, commit())).isEqualTo(Verdict.reject(
        DeadLetterReason.BAD_SIGNATURE, "the commit of round 3 is not signed, and run signed "
            + "signs every commit"));
  }

  @Test
  void anUnsignedRunTakesItsCommitsAsTheyAre() {
    ModelDescription unsigned = ModelDescription.newBuilder(SIGNED).setCommitKey(null).build();
    assertThat(CommitSignatures.check(unsigned, commit()).accepted()).isTrue();
  }
}
