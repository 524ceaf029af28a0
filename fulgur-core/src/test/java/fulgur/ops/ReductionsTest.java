package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.ReduceOp;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.testing.Ref;
import fulgur.testing.Ref.Layout;
import fulgur.testing.Ref.Nd;
import fulgur.testing.ScopedTest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** sum, mean, max, min, logsumexp over every subset of axes, argmax/argmin, against f64 references. */
class ReductionsTest extends ScopedTest {

    static final List<int[]> SHAPES =
            List.of(new int[] {3, 7, 9}, new int[] {2, 3, 1, 5}, new int[] {1013}, new int[] {33, 2}, new int[] {1});

    /** Every non-empty subset of the axes of a rank-n tensor. */
    static List<int[]> subsets(int n) {
        List<int[]> r = new ArrayList<>();
        for (int mask = 1; mask < (1 << n); mask++) {
            int[] axes = new int[Integer.bitCount(mask)];
            for (int i = 0, k = 0; i < n; i++) {
                if ((mask & (1 << i)) != 0) {
                    axes[k++] = i;
                }
            }
            r.add(axes);
        }
        return r;
    }

    static Ref.Reducer reference(ReduceOp op) {
        return switch (op) {
            case SUM -> Ref::sum;
            case MEAN -> v -> Ref.sum(v) / v.length;
            case MAX -> v -> Arrays.stream(v).max().orElseThrow();
            case MIN -> v -> Arrays.stream(v).min().orElseThrow();
            case LOGSUMEXP -> Ref::logSumExp;
        };
    }

    /** The error scale of a floating-point reduction: Σ|x| for sums (Σ|x|/n for means), 0 for exact selections. */
    static Ref.Reducer scale(ReduceOp op) {
        return switch (op) {
            case SUM -> Ref::sumAbs;
            case MEAN -> v -> Ref.sumAbs(v) / v.length;
            case LOGSUMEXP -> v -> 1;
            case MAX, MIN -> v -> 0;
        };
    }

    @ParameterizedTest
    @EnumSource(ReduceOp.class)
    void everySubsetOfAxesWithAndWithoutKeepDim(ReduceOp op) {
        long seed = 10L * op.ordinal();
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[] shape : SHAPES) {
                for (int[] axes : subsets(shape.length)) {
                    for (boolean keep : new boolean[] {false, true}) {
                        Layout layout = Layout.values()[(int) (seed % 3)];
                        Nd x = Ref.round(dt, Ref.randn(seed++, shape));
                        Tensor t = Ref.make(dt, x, layout);
                        // pass the axes in a scrambled order and partly negative
                        int[] given = axes.clone();
                        for (int i = 0; i < given.length; i++) {
                            if ((seed + i) % 2 == 0) {
                                given[i] -= shape.length;
                            }
                        }
                        reverse(given);
                        Tensor y = Reductions.reduce(op, t, given, keep);
                        assertThat(y.dtype()).isEqualTo(dt);
                        String what = op + " " + dt + " " + Arrays.toString(shape) + " axes " + Arrays.toString(given)
                                + " keep " + keep + " " + layout;
                        Ref.assertWithin(
                                what,
                                y,
                                Ref.reduce(x, axes, keep, reference(op)),
                                Ref.reduce(x, axes, keep, scale(op)),
                                Ref.rtol(dt));
                    }
                }
            }
        }
    }

    private static void reverse(int[] a) {
        for (int i = 0, j = a.length - 1; i < j; i++, j--) {
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }

    @Test
    void publicShortcutsAgreeWithReduce() {
        Nd x = Ref.randn(5, 4, 6);
        Tensor t = Tensor.of(x.v(), 4, 6);
        assertThat(t.sum().ndim()).isZero();
        assertThat(t.sum().item()).isCloseTo(Ref.sum(x.v()), org.assertj.core.data.Offset.offset(1e-12));
        assertThat(t.mean().item()).isCloseTo(Ref.sum(x.v()) / 24, org.assertj.core.data.Offset.offset(1e-12));
        Ref.assertClose("sum(1)", t.sum(1, false), Ref.reduce(x, new int[] {1}, false, Ref::sum), 1e-12, 1e-12);
        Ref.assertClose(
                "mean(-2, keep)",
                t.mean(-2, true),
                Ref.reduce(x, new int[] {0}, true, v -> Ref.sum(v) / v.length),
                1e-12,
                1e-12);
        Ref.assertClose("max(0)", t.max(0, false), Ref.reduce(x, new int[] {0}, false, reference(ReduceOp.MAX)), 0, 0);
        Ref.assertClose(
                "min",
                Reductions.min(t, new int[] {0, 1}, false),
                Ref.reduce(x, new int[] {0, 1}, false, reference(ReduceOp.MIN)),
                0,
                0);
        Ref.assertClose(
                "logsumexp",
                Reductions.logsumexp(t, new int[] {1}, true),
                Ref.reduce(x, new int[] {1}, true, Ref::logSumExp),
                1e-12,
                1e-12);
    }

    @ParameterizedTest
    @EnumSource(ReduceOp.class)
    void largeReductionsOverLeadingAndTrailingAxes(ReduceOp op) {
        for (int[] shape : List.of(new int[] {1013, 37}, new int[] {37, 1013}, new int[] {3, 20011})) {
            Nd x = Ref.round(DType.F32, Ref.randn(shape[0] + shape[1], shape));
            Tensor t = Tensor.of(DType.F32, x.v(), shape);
            for (int[] axes : List.of(new int[] {0}, new int[] {1}, new int[] {0, 1})) {
                Ref.assertWithin(
                        op + " " + Arrays.toString(shape) + Arrays.toString(axes),
                        Reductions.reduce(op, t, axes, false),
                        Ref.reduce(x, axes, false, reference(op)),
                        Ref.reduce(x, axes, false, scale(op)),
                        1e-5);
            }
        }
    }

    @Test
    void reductionsOfExpandedAndBf16Inputs() {
        Nd x = Ref.round(DType.BF16, Ref.randn(9, 1, 7));
        Tensor e = Tensor.of(DType.BF16, x.v(), 1, 7).expand(5, 7); // stride-0 rows
        Nd ex = Ref.broadcastTo(x, new int[] {5, 7});
        for (ReduceOp op : ReduceOp.values()) {
            for (int[] axes : List.of(new int[] {0}, new int[] {1}, new int[] {0, 1})) {
                Tensor y = Reductions.reduce(op, e, axes, true);
                assertThat(y.dtype()).isEqualTo(DType.BF16);
                // computed in f32, rounded once to bf16
                Ref.assertWithin(
                        op + " bf16 expanded " + Arrays.toString(axes),
                        y,
                        Ref.round(DType.BF16, Ref.reduce(ex, axes, true, reference(op))),
                        Ref.reduce(ex, axes, true, scale(op)),
                        0x1p-7);
            }
        }
    }

    @Test
    void integerSums() {
        Tensor t = Tensor.ofInts(new int[] {1, 2, 3, 4, 5, 6}, 2, 3);
        assertThat(t.sum(0, false).toLongArray()).containsExactly(5, 7, 9);
        assertThat(t.sum(1, true).toLongArray()).containsExactly(6, 15);
        assertThat(Reductions.max(t, new int[] {0, 1}, false).toLongArray()).containsExactly(6);
    }

    @Test
    void emptyAxisSumIsZeroAndMeanIsNaN() {
        Tensor t = Tensor.zeros(DType.F32, 3, 0);
        assertThat(t.sum(1, false).toDoubleArray()).containsExactly(0, 0, 0);
        assertThat(t.sum(0, false).shape()).containsExactly(0);
        assertThat(Double.isNaN(t.mean(1, false).toDoubleArray()[0])).isTrue();
    }

    @Test
    void logsumexpHandlesInfinitiesAndLargeValues() {
        Tensor t = Tensor.of(
                new float[] {
                    1000,
                    1000,
                    Float.NEGATIVE_INFINITY,
                    Float.NEGATIVE_INFINITY,
                    Float.NEGATIVE_INFINITY,
                    Float.NEGATIVE_INFINITY,
                    -5,
                    1e-3f,
                    Float.POSITIVE_INFINITY
                },
                3,
                3);
        double[] r = Reductions.logsumexp(t, new int[] {1}, false).toDoubleArray();
        assertThat(r[0]).isCloseTo(1000 + Math.log(2), org.assertj.core.data.Offset.offset(1e-3));
        assertThat(r[1]).isEqualTo(Double.NEGATIVE_INFINITY);
        assertThat(r[2]).isEqualTo(Double.POSITIVE_INFINITY);
    }

    // ------------------------------------------------------------------ argmax / argmin

    @Test
    void argmaxAndArgminOnEveryAxis() {
        long seed = 1;
        for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16, DType.I32}) {
            for (int[] shape : SHAPES) {
                for (int axis = -shape.length; axis < shape.length; axis++) {
                    for (boolean keep : new boolean[] {false, true}) {
                        Layout layout = Layout.values()[(int) (seed % 3)];
                        Nd x = Ref.round(dt, Ref.map(Ref.randn(seed++, shape), v -> Math.rint(v * 4))); // many ties
                        Tensor t = Ref.make(dt, x, layout);
                        int a = axis < 0 ? axis + shape.length : axis;
                        for (boolean max : new boolean[] {true, false}) {
                            Tensor y = max ? Reductions.argmax(t, axis, keep) : Reductions.argmin(t, axis, keep);
                            assertThat(y.dtype()).isEqualTo(DType.I64);
                            Nd expected = Ref.reduce(x, new int[] {a}, keep, v -> firstExtremum(v, max));
                            Ref.assertEqual(
                                    (max ? "argmax " : "argmin ") + dt + Arrays.toString(shape) + " axis " + axis + " "
                                            + layout,
                                    y,
                                    expected);
                        }
                    }
                }
            }
        }
    }

    private static double firstExtremum(double[] v, boolean max) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (max ? v[i] > v[best] : v[i] < v[best]) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void argmaxPrefersNaN() {
        Tensor t = Tensor.of(new float[] {1, Float.NaN, 3, 5}, 4);
        assertThat(t.argmax(0, false).toLongArray()).containsExactly(1);
        assertThat(Reductions.argmin(t, 0, false).toLongArray()).containsExactly(1);
        assertThat(Double.isNaN(t.max(0, false).item())).isTrue();
    }
}
