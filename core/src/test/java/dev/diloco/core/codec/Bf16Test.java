package dev.diloco.core.codec;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigDecimal;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

class Bf16Test {

  /** The value of bf16 magnitude bits, with 0x7f80 standing for 2^128 (where rounding overflows). */
  private static BigDecimal magnitude(int bits) {
    if (bits == 0x7f80) {
      return new BigDecimal(Math.scalb(1.0, 127)).multiply(BigDecimal.valueOf(2));
    }
    return new BigDecimal((double) Float.intBitsToFloat(bits << 16));
  }

  private static short reference(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int below = (bits & 0x7fff_ffff) >>> 16;
    int above = below + 1;
    BigDecimal x = new BigDecimal(Math.abs((double) f));
    int cmp = x.subtract(magnitude(below)).compareTo(magnitude(above).subtract(x));
    int nearest = cmp < 0 ? below : cmp > 0 ? above : (below % 2 == 0 ? below : above);
    return (short) (sign | nearest);
  }

  @Property(tries = 20_000)
  void anyFiniteFloatRoundsToTheNearestBf16TiesToEven(@ForAll int floatBits) {
    float f = Float.intBitsToFloat(floatBits);
    if (Float.isNaN(f)) {
      assertThat(Bf16.toFloat(Bf16.fromFloat(f))).isNaN();
      return;
    }
    if (Float.isInfinite(f)) {
      assertThat(Bf16.toFloat(Bf16.fromFloat(f))).isEqualTo(f);
      return;
    }
    assertThat(Bf16.fromFloat(f)).as("%s (%08x)", f, floatBits).isEqualTo(reference(f));
  }

  @Test
  void everyBitPatternRoundTrips() {
    for (int bits = 0; bits < 1 << 16; bits++) {
      float f = Bf16.toFloat((short) bits);
      if (Float.isNaN(f)) {
        assertThat(Bf16.toFloat(Bf16.fromFloat(f))).isNaN();
      } else {
        assertThat(Bf16.fromFloat(f)).as("bits %04x", bits).isEqualTo((short) bits);
      }
    }
  }
}
