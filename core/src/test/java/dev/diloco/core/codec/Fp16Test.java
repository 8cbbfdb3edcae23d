package dev.diloco.core.codec;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

class Fp16Test {

  /**
   * Every finite positive half by value, from a formula that shares no code with Fp16, and
   * 65536 after them: the value the next pattern (infinity) would have with a wider exponent.
   */
  private static final double[] POSITIVE_FINITE = new double[0x7c01];

  static {
    for (int bits = 0; bits <= 0x7c00; bits++) {
      POSITIVE_FINITE[bits] = referenceValue(bits);
    }
  }

  private static double referenceValue(int bits) {
    int e = (bits >>> 10) & 0x1f;
    int m = bits & 0x3ff;
    double magnitude = e == 0 ? Math.scalb((double) m, -24) : Math.scalb(1024.0 + m, e - 25);
    return (bits & 0x8000) != 0 ? -magnitude : magnitude;
  }

  /** Round to nearest, ties to even, by searching the sorted table of halves. */
  private static short referenceFromFloat(float f) {
    int sign = Float.floatToRawIntBits(f) < 0 ? 0x8000 : 0;
    double x = Math.abs((double) f);
    if (Double.isNaN(x)) {
      throw new IllegalArgumentException("NaN has no nearest value");
    }
    if (x >= 65536.0) {
      return (short) (sign | 0x7c00);
    }
    int i = Arrays.binarySearch(POSITIVE_FINITE, x);
    if (i >= 0) {
      return (short) (sign | i);
    }
    int above = -i - 1; // x lies between halves above-1 and above
    int below = above - 1;
    double dBelow = x - POSITIVE_FINITE[below];
    double dAbove = POSITIVE_FINITE[above] - x;
    int nearest = dBelow < dAbove ? below : dAbove < dBelow ? above : (below % 2 == 0 ? below : above);
    return (short) (sign | nearest);
  }

  @Test
  void everyBitPatternDecodesToItsValueAndEncodesBackToItself() {
    for (int bits = 0; bits < 1 << 16; bits++) {
      short h = (short) bits;
      float f = Fp16.toFloat(h);
      boolean nan = (bits & 0x7c00) == 0x7c00 && (bits & 0x3ff) != 0;
      if (nan) {
        assertThat(f).as("bits %04x", bits).isNaN();
        assertThat(Fp16.fromFloat(f) & 0x7c00).isEqualTo(0x7c00);
        assertThat(Fp16.fromFloat(f) & 0x3ff).isNotZero();
        continue;
      }
      if ((bits & 0x7fff) == 0x7c00) {
        assertThat(f).isEqualTo((bits & 0x8000) != 0 ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY);
      } else {
        assertThat((double) f).as("bits %04x", bits).isEqualTo(referenceValue(bits));
      }
      assertThat(Fp16.fromFloat(f)).as("bits %04x", bits).isEqualTo(h);
    }
  }

  @Property(tries = 20_000)
  void anyFloatRoundsToTheNearestHalfTiesToEven(@ForAll int floatBits) {
    float f = Float.intBitsToFloat(floatBits);
    if (Float.isNaN(f)) {
      assertThat(Fp16.isNonFinite(Fp16.fromFloat(f))).isTrue();
      assertThat(Fp16.toFloat(Fp16.fromFloat(f))).isNaN();
      return;
    }
    assertThat(Fp16.fromFloat(f)).as("%s (%08x)", f, floatBits).isEqualTo(referenceFromFloat(f));
  }

  @Property(tries = 20_000)
  void floatsInTheHalfRangeRoundToTheNearestHalf(@ForAll float f) {
    float inRange = f % 70000f; // jqwik's floats, folded to where halves live
    assertThat(Fp16.fromFloat(inRange)).as("%s", inRange).isEqualTo(referenceFromFloat(inRange));
  }

  @Test
  void tiesGoToTheEvenNeighbour() {
    // 1 + 2^-11 is half-way between 1 (even mantissa) and 1 + 2^-10 (odd): rounds down.
    assertThat(Fp16.fromFloat(1f + 0x1p-11f)).isEqualTo((short) 0x3c00);
    // 1 + 3*2^-11 is half-way between 1 + 2^-10 (odd) and 1 + 2^-9 (even): rounds up.
    assertThat(Fp16.fromFloat(1f + 3 * 0x1p-11f)).isEqualTo((short) 0x3c02);
    // 2^-25 is half-way between 0 and the smallest subnormal: rounds to 0.
    assertThat(Fp16.fromFloat(0x1p-25f)).isEqualTo((short) 0);
    assertThat(Fp16.fromFloat(Math.nextUp(0x1p-25f))).isEqualTo((short) 1);
    // 65520 is half-way between 65504 (odd) and 65536 (overflow): rounds to infinity.
    assertThat(Fp16.fromFloat(65520f)).isEqualTo((short) 0x7c00);
    assertThat(Fp16.fromFloat(Math.nextDown(65520f))).isEqualTo((short) 0x7bff);
    assertThat(Fp16.fromFloat(-0f)).isEqualTo((short) 0x8000);
  }
}
