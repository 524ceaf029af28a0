package fulgur.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * {@link GemmTrace} reports the mean of each phase per thread and chunk, and forgets on reset (the GEMM itself adds to
 * it only with {@code -Dfulgur.gemm.trace=true}, never in the build).
 */
class GemmTraceTest {

    @Test
    void summaryGivesMeansPerChunkAndPerThreadAndResetForgets() {
        GemmTrace.reset();
        GemmTrace.call(4_000_000);
        GemmTrace.call(6_000_000);
        GemmTrace.part(100_000, 1_000_000, 10_000, 3_000_000);
        GemmTrace.part(300_000, 2_000_000, 30_000, 5_000_000);
        GemmTrace.part(200_000, 0, 20_000, 4_000_000);
        GemmTrace.part(200_000, 1_000_000, 20_000, 4_000_000);
        assertThat(GemmTrace.summary())
                .isEqualTo("2 packed chunks, 5.000 ms each; a thread of 2.0 per chunk: started after 0.200 ms,"
                        + " packed 1.000, waited 0.020, computed 4.000");
        GemmTrace.reset();
        assertThat(GemmTrace.summary()).startsWith("0 packed chunks, 0.000 ms each");
    }
}
