package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import fulgur.backend.Backends;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.testing.Ref;
import fulgur.testing.Ref.Layout;
import fulgur.testing.Ref.Nd;
import fulgur.testing.ScopedTest;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** matmul, batched matmul with broadcast batches, transposed and 1-D operands, low-precision inputs, and linear. */
class MatmulTest extends ScopedTest {

    static final int[][] MKN = {
        {1, 1, 1}, {3, 7, 9}, {9, 33, 7}, {33, 9, 1}, {1, 33, 9}, {7, 1, 3}, {33, 33, 33}, {17, 65, 9}
    };

    /** |c − exact| ≤ rtol·(|exact| + Σ|a||b|) per element: the forward error bound of a dot product. */
    static void assertMatmul(String what, Tensor c, Nd a, Nd b, double rtol) {
        Ref.assertWithin(what, c, Ref.matmul(a, b), Ref.matmulAbs(a, b), rtol);
    }

    static double rtol(DType dt) {
        return dt == DType.F64 ? 1e-13 : 1e-5;
    }

    @Test
    void twoDimensionalAllLayouts() {
        long seed = 1;
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[] mkn : MKN) {
                Nd a = Ref.round(dt, Ref.randn(seed++, mkn[0], mkn[1]));
                Nd b = Ref.round(dt, Ref.randn(seed++, mkn[1], mkn[2]));
                for (Layout la : Layout.values()) {
                    for (Layout lb : Layout.values()) {
                        Tensor c = Ref.make(dt, a, la).matmul(Ref.make(dt, b, lb));
                        assertThat(c.dtype()).isEqualTo(dt);
                        assertMatmul(dt + " " + Arrays.toString(mkn) + " " + la + "·" + lb, c, a, b, rtol(dt));
                    }
                }
            }
        }
    }

    @Test
    void transposeFlagsOfTheOpsLayer() {
        long seed = 50;
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[] mkn : new int[][] {{3, 7, 9}, {9, 1, 33}, {1, 5, 1}}) {
                Nd a = Ref.round(dt, Ref.randn(seed++, 2, mkn[0], mkn[1]));
                Nd b = Ref.round(dt, Ref.randn(seed++, 2, mkn[1], mkn[2]));
                for (boolean ta : new boolean[] {false, true}) {
                    for (boolean tb : new boolean[] {false, true}) {
                        // store the operands so that op(stored) is a (resp. b)
                        Tensor sa = Tensor.of(
                                dt,
                                (ta ? Ref.transposeLast(a) : a).v(),
                                ta ? new int[] {2, mkn[1], mkn[0]} : a.shape());
                        Tensor sb = Tensor.of(
                                dt,
                                (tb ? Ref.transposeLast(b) : b).v(),
                                tb ? new int[] {2, mkn[2], mkn[1]} : b.shape());
                        assertMatmul(
                                dt + " transA=" + ta + " transB=" + tb + Arrays.toString(mkn),
                                LinearAlgebra.matmul(sa, sb, ta, tb),
                                a,
                                b,
                                rtol(dt));
                        // and the flags combined with a transposed view
                        assertMatmul(
                                dt + " flags on views",
                                LinearAlgebra.matmul(
                                        sa.mT().contiguous().mT(),
                                        sb.mT().contiguous().mT(),
                                        ta,
                                        tb),
                                a,
                                b,
                                rtol(dt));
                    }
                }
            }
        }
    }

    @Test
    void batchedWithBroadcastBatchDimensions() {
        long seed = 100;
        List<int[][]> cases = List.of(
                new int[][] {{2, 1, 3, 7}, {3, 7, 9}}, // [2,1]·[3] → [2,3]
                new int[][] {{4, 3, 7}, {7, 9}}, // matrix broadcast over a batch
                new int[][] {{3, 7}, {5, 7, 9}},
                new int[][] {{2, 3, 1, 5}, {2, 1, 5, 4}}, // both broadcast, m = 1
                new int[][] {{1, 9, 33}, {6, 33, 1}}, // n = 1
                new int[][] {{2, 2, 2, 3, 4}, {2, 4, 5}});
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[][] c : cases) {
                Nd a = Ref.round(dt, Ref.randn(seed++, c[0]));
                Nd b = Ref.round(dt, Ref.randn(seed++, c[1]));
                for (Layout la : Layout.values()) {
                    Layout lb = Layout.values()[(la.ordinal() + 1) % 3];
                    Tensor r = Ref.make(dt, a, la).matmul(Ref.make(dt, b, lb));
                    assertMatmul(
                            dt + " " + Arrays.toString(c[0]) + la + "·" + Arrays.toString(c[1]) + lb,
                            r,
                            a,
                            b,
                            rtol(dt));
                }
            }
        }
    }

    @Test
    void batchDimensionsWithExpandedAndPermutedStrides() {
        Nd a = Ref.round(DType.F32, Ref.randn(7, 1, 1, 3, 5));
        Nd b = Ref.round(DType.F32, Ref.randn(8, 3, 4, 5, 2));
        Tensor ea = Tensor.of(DType.F32, a.v(), 1, 1, 3, 5).expand(4, 1, 3, 5); // stride-0 batch
        Tensor pb = Ref.make(DType.F32, b, Layout.CONTIGUOUS).permute(1, 0, 2, 3); // batch [4, 3]: no single stride
        Nd pbNd = Ref.read(pb);
        Tensor r = ea.matmul(pb);
        assertThat(r.shape()).containsExactly(4, 3, 3, 2);
        assertMatmul("expanded·permuted batches", r, Ref.broadcastTo(a, new int[] {4, 1, 3, 5}), pbNd, 1e-5);
        assertMatmul(
                "permuted·expanded batches",
                pb.mT().matmul(ea.mT()),
                Ref.transposeLast(pbNd),
                Ref.transposeLast(Ref.broadcastTo(a, new int[] {4, 1, 3, 5})),
                1e-5);
    }

    @Test
    void oneDimensionalOperands() {
        Nd v = Ref.randn(1, 7);
        Nd w = Ref.randn(2, 7);
        Nd m = Ref.randn(3, 7, 5);
        Nd mt = Ref.randn(4, 5, 7);
        Nd bm = Ref.randn(5, 3, 7, 5);
        Tensor tv = Tensor.of(v.v(), 7);
        // [K]·[K, N] → [N]
        Tensor vm = tv.matmul(Tensor.of(m.v(), 7, 5));
        assertThat(vm.shape()).containsExactly(5);
        Ref.assertClose(
                "v·M", vm, new Nd(Ref.matmul(new Nd(v.v(), new int[] {1, 7}), m).v(), new int[] {5}), 1e-12, 1e-12);
        // [M, K]·[K] → [M]
        Tensor mv = Tensor.of(mt.v(), 5, 7).matmul(tv);
        assertThat(mv.shape()).containsExactly(5);
        Ref.assertClose(
                "M·v",
                mv,
                new Nd(Ref.matmul(mt, new Nd(v.v(), new int[] {7, 1})).v(), new int[] {5}),
                1e-12,
                1e-12);
        // [K]·[K] → [] (dot product)
        Tensor dot = tv.matmul(Tensor.of(w.v(), 7));
        assertThat(dot.shape()).isEmpty();
        double d = 0;
        for (int i = 0; i < 7; i++) {
            d += v.v()[i] * w.v()[i];
        }
        assertThat(dot.item()).isCloseTo(d, org.assertj.core.data.Offset.offset(1e-12));
        // [K]·[B, K, N] → [B, N] and [B, M, K]·[K] → [B, M]
        Tensor vb = tv.matmul(Tensor.of(bm.v(), 3, 7, 5));
        assertThat(vb.shape()).containsExactly(3, 5);
        Ref.assertClose(
                "v·batch",
                vb,
                new Nd(Ref.matmul(new Nd(v.v(), new int[] {1, 7}), bm).v(), new int[] {3, 5}),
                1e-12,
                1e-12);
        Tensor bv = Tensor.of(bm.v(), 3, 7, 5).transpose(1, 2).matmul(tv);
        assertThat(bv.shape()).containsExactly(3, 5);
        Ref.assertClose(
                "batch·v",
                bv,
                new Nd(
                        Ref.matmul(Ref.transposeLast(bm), new Nd(v.v(), new int[] {7, 1}))
                                .v(),
                        new int[] {3, 5}),
                1e-12,
                1e-12);
        // strided 1-D operands
        Tensor sv = Ref.make(DType.F64, v, Layout.TRANSPOSED);
        Ref.assertClose("strided v·M", sv.matmul(Tensor.of(m.v(), 7, 5)), Ref.read(vm), 1e-12, 1e-12);
    }

    @Test
    void bf16AndF16InputsAccumulateInF32() {
        long seed = 200;
        for (DType dt : new DType[] {DType.BF16, DType.F16}) {
            for (int[] mkn : new int[][] {{3, 7, 9}, {9, 300, 7}, {33, 33, 33}}) {
                Nd a = Ref.round(dt, Ref.randn(seed++, mkn[0], mkn[1]));
                Nd b = Ref.round(dt, Ref.randn(seed++, mkn[1], mkn[2]));
                Tensor ta = Ref.make(dt, a, Layout.NARROWED);
                Tensor tb = Ref.make(dt, b, Layout.TRANSPOSED);
                Nd exact = Ref.matmul(a, b);
                Nd abs = Ref.matmulAbs(a, b);
                // default result: the inputs' dtype, rounded once from the f32 accumulator
                Tensor c = ta.matmul(tb);
                assertThat(c.dtype()).isEqualTo(dt);
                Nd got = Ref.read(c);
                double ulp = dt == DType.BF16 ? 0x1p-7 : 0x1p-10;
                for (int i = 0; i < exact.size(); i++) {
                    double bound = ulp * Math.abs(exact.v()[i]) + 1e-5 * abs.v()[i];
                    if (Math.abs(got.v()[i] - exact.v()[i]) > bound) {
                        fail("%s %s element %d: %s vs %s", dt, Arrays.toString(mkn), i, got.v()[i], exact.v()[i]);
                    }
                }
                // f32 output requested: products of bf16/f16 values are exact in f32, so only the f32 sum rounds
                Tensor c32 = Backends.of(ta).matmul(ta, tb, false, false, DType.F32);
                assertThat(c32.dtype()).isEqualTo(DType.F32);
                Ref.assertWithin(dt + " → f32 " + Arrays.toString(mkn), c32, exact, abs, 1e-5);
                // mixed with f32
                Tensor mixed = ta.matmul(tb.to(DType.F32));
                assertThat(mixed.dtype()).isEqualTo(DType.F32);
                Ref.assertWithin(dt + "·f32", mixed, exact, abs, 1e-5);
            }
        }
    }

    @Test
    void blockBoundarySizes() {
        int[] mkn = {131, 67, 129};
        Nd a = Ref.round(DType.F32, Ref.randn(300, mkn[0], mkn[1]));
        Nd b = Ref.round(DType.F32, Ref.randn(301, mkn[1], mkn[2]));
        assertMatmul(
                "131x67x129",
                Tensor.of(DType.F32, a.v(), a.shape()).matmul(Tensor.of(DType.F32, b.v(), b.shape())),
                a,
                b,
                1e-5);
        assertMatmul(
                "131x67x129 transposed a",
                Ref.make(DType.F32, a, Layout.TRANSPOSED).matmul(Tensor.of(DType.F32, b.v(), b.shape())),
                a,
                b,
                1e-5);
    }

    @Test
    void emptyDimensions() {
        assertThat(Tensor.zeros(DType.F32, 0, 3)
                        .matmul(Tensor.zeros(DType.F32, 3, 4))
                        .shape())
                .containsExactly(0, 4);
        Tensor z = Tensor.zeros(DType.F32, 2, 0).matmul(Tensor.zeros(DType.F32, 0, 3));
        assertThat(z.shape()).containsExactly(2, 3);
        assertThat(z.toDoubleArray()).containsOnly(0.0);
    }

    @Test
    void linearWithAndWithoutBias() {
        long seed = 400;
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[] xs : new int[][] {{2, 3, 9}, {5, 9}, {9}}) {
                Nd x = Ref.round(dt, Ref.randn(seed++, xs));
                Nd w = Ref.round(dt, Ref.randn(seed++, 7, 9));
                Nd bias = Ref.round(dt, Ref.randn(seed++, 7));
                Nd x2 = new Nd(x.v(), new int[] {x.size() / 9, 9});
                Nd y = Ref.matmul(x2, Ref.transposeLast(w));
                int[] ys = xs.clone();
                ys[ys.length - 1] = 7;
                Nd scale = Ref.matmulAbs(x2, Ref.transposeLast(w));
                Tensor tw = Ref.make(dt, w, Layout.NARROWED);
                Tensor tx = Ref.make(dt, x, Layout.TRANSPOSED);
                Ref.assertWithin(
                        "linear " + dt + Arrays.toString(xs),
                        LinearAlgebra.linear(tx, tw, null),
                        new Nd(y.v(), ys),
                        new Nd(scale.v(), ys),
                        rtol(dt));
                Nd yb = Ref.zip(y, bias, Double::sum);
                Nd sb = Ref.zip(scale, Ref.map(bias, Math::abs), Double::sum);
                Ref.assertWithin(
                        "linear+bias " + dt + Arrays.toString(xs),
                        LinearAlgebra.linear(tx, tw, Tensor.of(dt, bias.v(), 7)),
                        new Nd(yb.v(), ys),
                        new Nd(sb.v(), ys),
                        rtol(dt));
            }
        }
    }
}
