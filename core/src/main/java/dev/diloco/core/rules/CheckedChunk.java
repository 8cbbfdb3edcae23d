package dev.diloco.core.rules;

import dev.diloco.core.codec.PayloadFormat;
import dev.diloco.core.layout.ChunkRange;
import dev.diloco.schemas.PseudoGradientChunk;
import java.nio.ByteBuffer;

/**
 * A pseudo-gradient chunk that passed every check: the elements it covers, its format, and its
 * decoded payload in canonical form (encoded elements, little-endian, interleaved), which is
 * what an {@code ExactSum} adds. {@code canonical} is valid until the rules' next check.
 */
public record CheckedChunk(PseudoGradientChunk chunk, ChunkRange range, PayloadFormat format,
    ByteBuffer canonical) {}
