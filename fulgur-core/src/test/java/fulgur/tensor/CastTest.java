package fulgur.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.testing.Ref;
import fulgur.testing.Ref.Layout;
import fulgur.testing.Ref.Nd;
import fulgur.testing.ScopedTest;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Casts between all dtypes (round to nearest even for bf16/f16), and contiguous copies of strided views. */
class CastTest extends ScopedTest {

    static final DType[] ALL = DType.values();

    @Test
    void everyPairOfDtypesOnValuesExactInBoth() {
        double[] v = {0, 1, -1, 2, -3, 0.5, -0.25, 7, 100, -128, 255, 1024};
        for (DType from : ALL) {
            for (DType to : ALL) {
                double[] src = from.isFloating() && to.isFloating()
                        ? v
                        : Ref.map(new Nd(v, new int[] {v.length}), Math::rint).v();
                if (from == DType.I8 || to == DType.I8) {
                    src = Ref.round(DType.I8, src); // i8 holds [-128, 127]
                }
                for (Layout layout : Layout.values()) {
                    Tensor t = Ref.make(from, src, new int[] {3, 4}, layout);
                    Tensor c = t.to(to);
                    assertThat(c.dtype()).isEqualTo(to);
                    assertThat(c.shape()).containsExactly(3, 4);
                    Ref.assertEqual(from + "→" + to + " " + layout, c, new Nd(src, new int[] {3, 4}));
                }
            }
        }
    }

    /** Random doubles spread over many binades, plus the tie and overflow cases of each format. */
    static double[] awkwardValues(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[4000];
        for (int i = 0; i < v.length; i++) {
            v[i] = (r.nextBoolean() ? 1 : -1) * Math.scalb(1 + r.nextDouble(), r.nextInt(-30, 30));
        }
        double[] special = {
            1 + 0x1p-8,
            1 + 0x1p-8 + 0x1p-30,
            1 + 0x1p-8 - 0x1p-30,
            1 + 3 * 0x1p-8, // bf16 ties (even / odd) and near-ties
            1 + 0x1p-11,
            1 + 0x1p-11 + 0x1p-40,
            1 + 3 * 0x1p-11, // f16 ties and near-ties
            65504,
            65519.99,
            65520,
            1e5,
            3.3961e38,
            3.4e38,
            1e39, // f16 and bf16 overflow
            0x1p-140,
            0x1p-20,
            6e-8,
            3e-8,
            2.9e-8, // subnormals and underflow
            0.0,
            -0.0,
            Double.POSITIVE_INFINITY,
            Double.NEGATIVE_INFINITY,
            Double.NaN
        };
        System.arraycopy(special, 0, v, 0, special.length);
        return v;
    }

    @Test
    void roundingToBf16AndF16IsToNearestEvenFromF32AndF64() {
        double[] v = awkwardValues(1);
        for (DType from : new DType[] {DType.F64, DType.F32}) {
            double[] src = Ref.round(from, v);
            Tensor t = Tensor.of(from, src, src.length);
            for (DType to : new DType[] {DType.BF16, DType.F16, DType.F32}) {
                Nd got = Ref.read(t.to(to));
                for (int i = 0; i < src.length; i++) {
                    double expected = Ref.round(to, src[i]);
                    double g = got.v()[i];
                    boolean same = Double.isNaN(expected)
                            ? Double.isNaN(g)
                            : Double.doubleToLongBits(g) == Double.doubleToLongBits(expected);
                    assertThat(same)
                            .as(
                                    "%s %s (%a) → %s gave %s (%a), expected %s (%a)",
                                    from, src[i], src[i], to, g, g, expected, expected)
                            .isTrue();
                }
            }
        }
    }

    @Test
    void elementsConversionsRoundOnce() {
        // the scalar conversions used by Tensor.of, fills and the rng
        double[] v = awkwardValues(2);
        var seg = java.lang.foreign.Arena.ofAuto().allocate(8);
        for (DType to : new DType[] {DType.BF16, DType.F16}) {
            for (double x : v) {
                Elements.set(seg, to, 0, x);
                double g = Elements.get(seg, to, 0);
                double expected = Ref.round(to, x);
                boolean same = Double.isNaN(expected)
                        ? Double.isNaN(g)
                        : Double.doubleToLongBits(g) == Double.doubleToLongBits(expected);
                assertThat(same)
                        .as("Elements.set(%s, %a) read back %a, expected %a", to, x, g, expected)
                        .isTrue();
            }
        }
    }

    @Test
    void nanStaysNanAndSignsSurvive() {
        for (DType to : new DType[] {DType.BF16, DType.F16, DType.F32, DType.F64}) {
            Tensor t = Tensor.of(
                            new float[] {Float.NaN, Float.intBitsToFloat(0x7f800001), -0.0f, Float.NEGATIVE_INFINITY},
                            4)
                    .to(to);
            assertThat(Double.isNaN(t.getFlat(0))).as("%s NaN", to).isTrue();
            assertThat(Double.isNaN(t.getFlat(1)))
                    .as("%s signalling NaN (payload only in low bits) stays NaN", to)
                    .isTrue();
            assertThat(Double.doubleToRawLongBits(t.getFlat(2)))
                    .as("%s -0", to)
                    .isEqualTo(Double.doubleToRawLongBits(-0.0));
            assertThat(t.getFlat(3)).isEqualTo(Double.NEGATIVE_INFINITY);
        }
    }

    @Test
    void floatToIntegerTruncatesTowardZero() {
        Tensor t = Tensor.of(new double[] {2.7, -2.7, 0.5, -0.5, 1e3}, 5);
        assertThat(t.to(DType.I32).toLongArray()).containsExactly(2, -2, 0, 0, 1000);
        assertThat(t.to(DType.I64).toLongArray()).containsExactly(2, -2, 0, 0, 1000);
        assertThat(Tensor.ofLongs(new long[] {1L << 40, -5}, 2).to(DType.F64).toDoubleArray())
                .containsExactly(0x1p40, -5);
    }

    @Test
    void contiguousCopiesOfPermutedViewsInEveryDtype() {
        Nd x = Ref.map(Ref.randn(3, 2, 3, 4, 5), v -> Math.rint(10 * v));
        for (DType dt : ALL) {
            Tensor t = Tensor.of(dt, x.v(), x.shape());
            int[][] perms = {{3, 2, 1, 0}, {0, 2, 1, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}};
            for (int[] perm : perms) {
                Tensor p = t.permute(perm);
                Tensor c = p.contiguous();
                assertThat(c.isContiguous()).isTrue();
                assertThat(c.dtype()).isEqualTo(dt);
                Ref.assertEqual(dt + " permute " + java.util.Arrays.toString(perm), c, Ref.permute(x, perm));
                Ref.assertEqual(
                        dt + " narrowed permuted",
                        p.narrow(1, 1, p.size(1) - 1).contiguous(),
                        Ref.read(p.narrow(1, 1, p.size(1) - 1)));
            }
            assertThat(t.contiguous()).isSameAs(t);
        }
    }

    @Test
    void largeStridedCopiesAcrossThreads() {
        Nd x = Ref.round(DType.F32, Ref.randn(5, 300, 211));
        Tensor t = Tensor.of(DType.F32, x.v(), 300, 211);
        Ref.assertEqual("transpose copy", t.mT().contiguous(), Ref.permute(x, 1, 0));
        Ref.assertEqual("transpose copy to bf16", t.mT().to(DType.BF16), Ref.round(DType.BF16, Ref.permute(x, 1, 0)));
        Ref.assertEqual(
                "expanded copy",
                t.narrow(0, 7, 1).expand(400, 211).contiguous(),
                Ref.broadcastTo(
                        new Nd(java.util.Arrays.copyOfRange(x.v(), 7 * 211, 8 * 211), new int[] {1, 211}),
                        new int[] {400, 211}));
    }

    @Test
    void copyFromIntoAStridedDestinationConverts() {
        Tensor dst = Tensor.zeros(DType.BF16, 4, 6);
        Tensor window = dst.narrow(1, 1, 3).transpose(0, 1); // [3, 4], strided
        Nd src = Ref.map(Ref.randn(8, 3, 4), v -> Math.rint(4 * v));
        window.copyFrom(Tensor.of(src.v(), 3, 4));
        Nd expected = Nd.zeros(4, 6);
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 4; j++) {
                expected.set(src.at(i, j), j, i + 1);
            }
        }
        Ref.assertEqual("copyFrom into window", dst, expected);
    }

    @Test
    void castGradientsConvertBack() {
        Tensor x = Tensor.of(new float[] {1.5f, -2, 3}, 3).requiresGrad(true);
        Tensor y = x.to(DType.F64).mul(Tensor.of(new double[] {2, 3, 4}, 3)).sum();
        y.backward();
        assertThat(x.grad().dtype()).isEqualTo(DType.F32);
        assertThat(x.grad().toDoubleArray()).containsExactly(2, 3, 4);
        Tensor b = Tensor.of(DType.BF16, new double[] {1, 2}, 2).requiresGrad(true);
        b.to(DType.F32).mul(3.0).sum().backward();
        assertThat(b.grad().dtype()).isEqualTo(DType.F32); // leaf gradients of bf16 tensors accumulate in f32
        assertThat(b.grad().toDoubleArray()).containsExactly(3, 3);
    }
}
