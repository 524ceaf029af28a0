package fulgur.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import fulgur.backend.cpu.Parallel;
import fulgur.testing.Ref;
import fulgur.testing.ScopedTest;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The counter-based generator: reproducible per seed, independent of threads, with the right statistics. */
class RngTest extends ScopedTest {
    /** More than two of the 4096-element chunks that fill spreads over the pool. */
    static final int N = 3 * 4096 + 123;

    @Test
    void sameSeedSameTensorsDifferentSeedDifferentTensors() {
        Rng a = new Rng(7);
        Rng b = new Rng(7);
        Tensor a1 = a.normal(0, 1, 3, 5);
        Tensor a2 = a.normal(0, 1, 3, 5);
        assertThat(b.normal(0, 1, 3, 5).toDoubleArray()).isEqualTo(a1.toDoubleArray());
        assertThat(b.normal(0, 1, 3, 5).toDoubleArray()).isEqualTo(a2.toDoubleArray());
        assertThat(a2.toDoubleArray()).isNotEqualTo(a1.toDoubleArray());
        assertThat(new Rng(8).normal(0, 1, 3, 5).toDoubleArray()).isNotEqualTo(a1.toDoubleArray());
        assertThat(a.counter()).isEqualTo(2);
        // a saved state (seed, counter) continues the sequence
        Rng resumed = new Rng(a.seed(), a.counter());
        assertThat(resumed.uniform(0, 1, 9).toDoubleArray())
                .isEqualTo(a.uniform(0, 1, 9).toDoubleArray());
    }

    @Test
    void valuesArePureFunctionsOfStreamAndIndexWhateverTheThreads() {
        for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16}) {
            long stream = new Rng(11).nextStream();
            Tensor normal = new Rng(11).normal(dt, 0.5, 2, N);
            long ustream = new Rng(12).nextStream();
            Tensor uniform = new Rng(12).uniform(dt, -3, 5, 7, N / 7);
            for (int i = 0; i < N; i++) {
                assertThat(normal.getFlat(i)).isEqualTo(Ref.round(dt, 0.5 + 2 * Rng.normal(stream, i)));
            }
            for (int i = 0; i < uniform.numel(); i++) {
                assertThat(uniform.getFlat(i)).isEqualTo(Ref.round(dt, -3 + 8 * Rng.uniform(ustream, i)));
            }
        }
        // filled from inside a pool task (where kernels run serially) the tensor is the same
        AtomicReference<double[]> serial = new AtomicReference<>();
        Parallel.forRange(2, 1, (s, e) -> {
            if (s == 0) {
                serial.set(new Rng(11).normal(DType.F32, 0.5, 2, N).toDoubleArray());
            }
        });
        assertThat(serial.get())
                .isEqualTo(new Rng(11).normal(DType.F32, 0.5, 2, N).toDoubleArray());
    }

    @Test
    void normalAndUniformStatistics() {
        int n = 200_000;
        double[] z = new Rng(3).normal(DType.F64, 0, 1, n).toDoubleArray();
        double mean = Ref.sum(z) / n;
        double var = 0;
        double lag = 0;
        for (int i = 0; i < n; i++) {
            var += (z[i] - mean) * (z[i] - mean);
            if (i > 0) {
                lag += (z[i] - mean) * (z[i - 1] - mean);
            }
        }
        var /= n;
        assertThat(mean).isCloseTo(0, within(5 / Math.sqrt(n)));
        assertThat(Math.sqrt(var)).isCloseTo(1, within(0.01));
        assertThat(lag / n / var).as("lag-1 correlation").isCloseTo(0, within(5 / Math.sqrt(n)));
        long beyond3 = java.util.Arrays.stream(z).filter(v -> Math.abs(v) > 3).count();
        assertThat((double) beyond3 / n).isCloseTo(0.0027, within(0.0008));

        double[] u = new Rng(4).uniform(DType.F64, 2, 6, n).toDoubleArray();
        double um = Ref.sum(u) / n;
        double uv = 0;
        for (double v : u) {
            assertThat(v).isBetween(2.0, 6.0).isNotEqualTo(6.0);
            uv += (v - um) * (v - um);
        }
        assertThat(um).isCloseTo(4, within(0.02));
        assertThat(uv / n).isCloseTo(16 / 12.0, within(0.02));

        Tensor scaled = new Rng(5).normal(DType.F32, 3, 0.5, n);
        assertThat(scaled.mean().item()).isCloseTo(3, within(0.01));
    }

    @Test
    void truncatedNormalStaysWithinBounds() {
        int n = 50_000;
        double[] t = new Rng(6).truncatedNormal(DType.F64, 0, 1, -2, 2, n).toDoubleArray();
        double sum = 0;
        for (double v : t) {
            assertThat(v).isBetween(-2.0, 2.0);
            sum += v;
        }
        assertThat(sum / n).isCloseTo(0, within(0.02));
        // std of N(0,1) truncated to [-2, 2] is about 0.8796
        double var = 0;
        for (double v : t) {
            var += v * v;
        }
        assertThat(Math.sqrt(var / n)).isCloseTo(0.8796, within(0.01));
        // a one-sided window far from the mean, in f32
        Tensor tail = new Rng(7).truncatedNormal(DType.F32, 0, 0.02, 0.01, 0.05, 10_000);
        for (double v : tail.toDoubleArray()) {
            assertThat(v).isBetween(0.01, 0.05);
        }
        assertThat(new Rng(8).truncatedNormal(DType.F32, 0, 1, -2, 2, 5).toDoubleArray())
                .isEqualTo(new Rng(8).truncatedNormal(DType.F32, 0, 1, -2, 2, 5).toDoubleArray());
    }

    @Test
    void scalarDraws() {
        Rng r = new Rng(9);
        int[] counts = new int[5];
        for (int i = 0; i < 5000; i++) {
            int k = r.nextInt(5);
            assertThat(k).isBetween(0, 4);
            counts[k]++;
            double d = r.nextDouble();
            assertThat(d).isGreaterThanOrEqualTo(0).isLessThan(1);
        }
        for (int c : counts) {
            assertThat(c).isBetween(850, 1150);
        }
        assertThat(new Rng(9).nextLong()).isEqualTo(new Rng(9).nextLong());
    }
}
