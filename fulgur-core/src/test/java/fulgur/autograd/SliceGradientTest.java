package fulgur.autograd;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.HostAllocator;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import fulgur.testing.ScopedTest;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Gradients of narrow views (split, chunk, narrow) go straight into slices of one engine-owned buffer. They must
 * equal, bit for bit, what the old padded form gives: each piece's gradient zero-padded to full size and the padded
 * tensors added.
 */
class SliceGradientTest extends ScopedTest {

    /** How a scenario cuts a tensor: (x, {axis, start, length}) → the piece. */
    private interface Narrow extends BiFunction<Tensor, int[], Tensor> {}

    private static final Narrow SLICED = (x, r) -> Views.narrow(x, r[0], r[1], r[2]);

    /** narrow as it was before slice gradients: a plain node whose backward pads. */
    private static final Narrow PADDED = (x, r) -> {
        int a = Shape.axis("narrow", r[0], x.ndim());
        int start = r[1];
        int[] full = x.shape();
        Tensor out;
        try (GradMode.Guard ignored = GradMode.noGrad()) {
            out = Views.narrow(x, a, start, r[2]);
        }
        return Autograd.record("paddedNarrow", out, new Tensor[] {x}, g -> new Tensor[] {Views.pad(g, full, a, start)});
    };

    private static Tensor[] chunk(Narrow n, Tensor x, int axis, int parts) {
        int len = x.size(axis) / parts;
        Tensor[] out = new Tensor[parts];
        for (int i = 0; i < parts; i++) {
            out[i] = n.apply(x, new int[] {axis, i * len, len});
        }
        return out;
    }

    private static Tensor[] split(Narrow n, Tensor x, int axis, int... sizes) {
        Tensor[] out = new Tensor[sizes.length];
        int at = 0;
        for (int i = 0; i < sizes.length; i++) {
            out[i] = n.apply(x, new int[] {axis, at, sizes[i]});
            at += sizes[i];
        }
        return out;
    }

    private interface Scenario {
        Tensor loss(Narrow n, Tensor x, Rng rng);
    }

    enum Case {
        /** A fused projection cut into q, k, v, u, each used differently (the TNL pattern). */
        CHUNK4((n, x, rng) -> {
            Tensor[] p = chunk(n, x, 2, 4);
            return p[0].silu()
                    .mul(p[1])
                    .add(p[2].mul(rng.normal(DType.F64, 0, 1, p[2].shape()).to(x.dtype())))
                    .sum()
                    .add(p[3].exp().sum());
        }),
        /** Uneven split on a middle axis of an intermediate (the slice buffer then feeds mul's backward). */
        SPLIT_MIDDLE_AXIS((n, x, rng) -> {
            Tensor y = x.mul(1.5);
            Tensor[] p = split(n, y, 1, 2, 3, 1);
            return p[0].sum().add(p[1].mul(p[1]).sum()).add(p[2].tanh().sum());
        }),
        /** Overlapping narrows that leave columns 6 and 9 without gradient, plus a use of x itself. */
        OVERLAP_AND_GAPS((n, x, rng) -> {
            Tensor a = n.apply(x, new int[] {2, 0, 5});
            Tensor b = n.apply(x, new int[] {2, 3, 3});
            Tensor c = n.apply(x, new int[] {2, 7, 2});
            return a.mul(a)
                    .sum()
                    .add(b.sigmoid().sum())
                    .add(c.sum())
                    .add(x.mul(0.25).sum());
        }),
        /** One piece used twice and narrowed again; another piece on a different axis of the same tensor. */
        PIECE_USED_TWICE((n, x, rng) -> {
            Tensor p = n.apply(x, new int[] {1, 1, 3});
            Tensor inner = n.apply(p, new int[] {2, 2, 4});
            Tensor other = n.apply(x, new int[] {0, 0, 1});
            return p.mul(p)
                    .sum()
                    .add(p.mul(3).sum())
                    .add(inner.exp().sum())
                    .add(other.mul(other).sum());
        }),
        /** The whole tensor first, then pieces covering it (a full contribution into a slice buffer). */
        FULL_THEN_SLICES((n, x, rng) -> {
            Tensor[] p = chunk(n, x, 0, 2);
            return x.mul(x).sum().mul(0.5).add(p[0].sum()).add(p[1].mul(p[1]).sum());
        });

        final Scenario body;

        Case(Scenario body) {
            this.body = body;
        }
    }

    private static double[] grad(Case c, Narrow n, DType dtype) {
        Rng rng = new Rng(7);
        Tensor x = rng.normal(DType.F64, 0, 1, 2, 6, 10).to(dtype).requiresGrad(true);
        c.body.loss(n, x, new Rng(11)).backward();
        double[] g = x.grad().toDoubleArray();
        for (int i = 0; i < g.length; i++) {
            g[i] += 0.0; // −0 and +0 are the same gradient (0 + −0 is +0 in the padded sum)
        }
        return g;
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void equalsThePaddedSumBitForBitInF32AndF64(Case c) {
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            assertThat(grad(c, SLICED, dt)).as("%s %s", c, dt).containsExactly(grad(c, PADDED, dt));
        }
    }

    @Test
    void rootThatIsANarrowViewGetsItsSeedInPlace() {
        Tensor x = new Rng(3).normal(DType.F64, 0, 1, 3, 5).requiresGrad(true);
        Tensor seed = new Rng(4).normal(DType.F64, 0, 1, 3, 2);
        Views.narrow(x, 1, 2, 2).backward(seed);
        double[] g = x.grad().toDoubleArray();
        double[] s = seed.toDoubleArray();
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 5; j++) {
                assertThat(g[i * 5 + j]).isEqualTo(j >= 2 && j < 4 ? s[i * 2 + j - 2] : 0.0);
            }
        }
    }

    @Test
    void finiteDifferencesInF64() {
        Tensor x = new Rng(5).normal(DType.F64, 0, 1, 2, 3, 8);
        GradCheck.check(
                in -> {
                    Tensor[] p = Views.chunk(in[0], 2, 4);
                    Tensor[] s = Views.split(in[0], 1, 1, 2);
                    Tensor overlap = Views.narrow(in[0], 2, 1, 5);
                    return Views.concat(
                            2,
                            p[0].mul(p[1]),
                            p[2].tanh(),
                            p[3],
                            overlap.mul(overlap),
                            s[0].expand(2, 3, 8).mul(s[1].sum(1, true)));
                },
                x);
    }

    /**
     * A 4-way chunk of x costs one full-size gradient buffer in the backward (beyond x's own .grad): the pieces'
     * gradients are written into it. The padded form allocates a full-size tensor per piece and more for the sums.
     */
    @Test
    void fourWayChunkAllocatesOneFullSizeBuffer() {
        int[] shape = {4, 64, 256}; // 256 KiB of f32: a whole number of allocator pages
        long full = 4L * 64 * 256 * 4;
        Rng rng = new Rng(9);
        Tensor[] w = new Tensor[4];
        for (int i = 0; i < 4; i++) {
            w[i] = rng.normal(0, 1, 4, 64, 64);
        }
        Tensor x = rng.normal(0, 1, shape).requiresGrad(true);
        Tensor[] leaves = new Tensor[4];
        for (int i = 0; i < 4; i++) {
            leaves[i] = rng.normal(0, 1, 4, 64, 64).requiresGrad(true);
        }
        long separate = backwardBytes(() -> lossOf(leaves, w)); // same ops on four independent leaves
        long sliced = backwardBytes(() -> lossOf(chunk(SLICED, x, 2, 4), w));
        x.zeroGrad();
        long padded = backwardBytes(() -> lossOf(chunk(PADDED, x, 2, 4), w));
        System.out.printf(
                "4-way chunk backward, bytes allocated beyond separate leaves (full = %d): sliced %d, padded %d%n",
                full, sliced - separate, padded - separate);
        assertThat(sliced - separate).isEqualTo(full);
        assertThat(padded - separate).isGreaterThanOrEqualTo(5 * full);
    }

    private static Tensor lossOf(Tensor[] pieces, Tensor[] w) {
        Tensor loss = null;
        for (int i = 0; i < pieces.length; i++) {
            Tensor term = pieces[i].mul(w[i]).sum();
            loss = loss == null ? term : loss.add(term);
        }
        return loss;
    }

    private static long backwardBytes(java.util.function.Supplier<Tensor> forward) {
        try (Scope ignored = Scope.open()) {
            Tensor loss = forward.get();
            long before = HostAllocator.bytesAllocated();
            loss.backward();
            return HostAllocator.bytesAllocated() - before;
        }
    }
}
