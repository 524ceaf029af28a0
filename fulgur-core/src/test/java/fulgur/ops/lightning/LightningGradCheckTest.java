package fulgur.ops.lightning;

import static fulgur.ops.lightning.LightningTestSupport.f64;
import static fulgur.ops.lightning.LightningTestSupport.randomF64;
import static fulgur.ops.lightning.LightningTestSupport.relErr;
import static fulgur.ops.lightning.LightningTestSupport.slopesFor;
import static fulgur.ops.lightning.LightningTestSupport.values;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * f64 gradient check of the chunked backward: central finite differences of the f64 chunked forward for the loss
 * {@code L = Σ o⊙W + Σ S_T⊙W'} (random W, W'), over every element of q, k, v and the initial state.
 */
class LightningGradCheckTest {

    record Case(
            String name,
            LightningShape shape,
            double[] slopes,
            double scale,
            int block,
            int[] cuSeqlens,
            boolean initialState,
            boolean finalStateInLoss) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case(
                        "B=2 T=7 block 3, S0, S_T in loss",
                        new LightningShape(2, 7, 2, 3, 5),
                        slopesFor(0.9, 0.6),
                        0.7,
                        3,
                        null,
                        true,
                        true),
                new Case(
                        "T=5 block 2, no S0",
                        new LightningShape(1, 5, 3, 4, 2),
                        slopesFor(0.99, 0.5, 0.8),
                        1.0,
                        2,
                        null,
                        false,
                        true),
                new Case(
                        "T=6 one block, o only",
                        new LightningShape(1, 6, 1, 2, 3),
                        slopesFor(0.7),
                        1.3,
                        8,
                        null,
                        true,
                        false),
                new Case(
                        "varlen [0,4,4,9] block 3",
                        new LightningShape(1, 9, 2, 3, 2),
                        slopesFor(0.95, 0.45),
                        0.9,
                        3,
                        new int[] {0, 4, 4, 9},
                        true,
                        true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void chunkedBackwardMatchesFiniteDifferences(Case c) {
        LightningShape sh = c.shape();
        SplittableRandom rnd = new SplittableRandom(c.name().hashCode());
        long st = sh.stateElements(sh.sequences(c.cuSeqlens()));
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = randomF64(arena, sh.qkElements(), 1, rnd);
            MemorySegment k = randomF64(arena, sh.qkElements(), 1, rnd);
            MemorySegment v = randomF64(arena, sh.voElements(), 1, rnd);
            MemorySegment s0 = c.initialState() ? randomF64(arena, st, 1, rnd) : null;
            MemorySegment w = randomF64(arena, sh.voElements(), 1, rnd);
            MemorySegment wState = c.finalStateInLoss() ? randomF64(arena, st, 1, rnd) : null;

            MemorySegment dq = f64(arena, sh.qkElements()), dk = f64(arena, sh.qkElements());
            MemorySegment dv = f64(arena, sh.voElements()), ds0 = f64(arena, st);
            LightningChunked.backwardF64(
                    sh, q, k, v, c.slopes(), c.scale(), c.block(), c.cuSeqlens(), s0, w, wState, dq, dk, dv, ds0);

            Loss loss = new Loss(arena, c, q, k, v, s0, w, wState);
            checkAgainstFiniteDifferences("dq", q, dq, loss);
            checkAgainstFiniteDifferences("dk", k, dk, loss);
            checkAgainstFiniteDifferences("dv", v, dv, loss);
            if (s0 != null) {
                checkAgainstFiniteDifferences("dS0", s0, ds0, loss);
            } else {
                // without an initial state, dInitialState is still the gradient at S0 = 0
                MemorySegment zeros = f64(arena, st);
                Loss atZero = new Loss(arena, c, q, k, v, zeros, w, wState);
                checkAgainstFiniteDifferences("dS0 at zero", zeros, ds0, atZero);
            }

            // the f64 chunked algorithm agrees with the f64 naive oracle to rounding
            MemorySegment dqN = f64(arena, sh.qkElements()), dkN = f64(arena, sh.qkElements());
            MemorySegment dvN = f64(arena, sh.voElements()), ds0N = f64(arena, st);
            LightningNaive.backwardF64(
                    sh, q, k, v, c.slopes(), c.scale(), c.cuSeqlens(), s0, w, wState, dqN, dkN, dvN, ds0N);
            assertThat(relErr(values(dq, true), values(dqN, true))).isLessThan(1e-13);
            assertThat(relErr(values(dk, true), values(dkN, true))).isLessThan(1e-13);
            assertThat(relErr(values(dv, true), values(dvN, true))).isLessThan(1e-13);
            assertThat(relErr(values(ds0, true), values(ds0N, true))).isLessThan(1e-13);
        }
    }

    /** L = Σ o⊙W + Σ S_T⊙W' from the f64 chunked forward. */
    record Loss(
            Arena arena,
            Case c,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            MemorySegment s0,
            MemorySegment w,
            MemorySegment wState) {
        double value() {
            LightningShape sh = c.shape();
            MemorySegment out = f64(arena, sh.voElements());
            MemorySegment sT = f64(arena, sh.stateElements(sh.sequences(c.cuSeqlens())));
            LightningChunked.forwardF64(sh, q, k, v, c.slopes(), c.scale(), c.block(), c.cuSeqlens(), s0, out, sT);
            double l = dot(out, w);
            if (wState != null) {
                l += dot(sT, wState);
            }
            return l;
        }

        private static double dot(MemorySegment a, MemorySegment b) {
            double acc = 0;
            long n = a.byteSize() / Double.BYTES;
            for (long i = 0; i < n; i++) {
                acc += a.getAtIndex(ValueLayout.JAVA_DOUBLE, i) * b.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
            }
            return acc;
        }
    }

    /**
     * L is linear in each single input element, so central differences are exact up to rounding (~1e−10 here);
     * a wrong gradient is off by O(1).
     */
    private static void checkAgainstFiniteDifferences(String what, MemorySegment x, MemorySegment grad, Loss loss) {
        double h = 1e-4;
        long n = x.byteSize() / Double.BYTES;
        for (long i = 0; i < n; i++) {
            double x0 = x.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
            x.setAtIndex(ValueLayout.JAVA_DOUBLE, i, x0 + h);
            double up = loss.value();
            x.setAtIndex(ValueLayout.JAVA_DOUBLE, i, x0 - h);
            double down = loss.value();
            x.setAtIndex(ValueLayout.JAVA_DOUBLE, i, x0);
            double fd = (up - down) / (2 * h);
            double g = grad.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
            assertThat(g)
                    .as("%s[%d]: analytic vs finite difference %s", what, i, fd)
                    .isCloseTo(fd, org.assertj.core.api.Assertions.within(1e-8 * (1 + Math.abs(fd))));
        }
    }
}
