package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.testing.Ref;
import fulgur.testing.Ref.Layout;
import fulgur.testing.Ref.Nd;
import fulgur.testing.ScopedTest;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** concat/split/stack/chunk, gather/scatterAdd/indexSelect, where/maskedFill, cumsum and causalMask. */
class IndexingTest extends ScopedTest {

    static final DType[] DTYPES = {DType.F32, DType.F64, DType.BF16, DType.I64};

    /** Small integers: exact in every dtype. */
    static Nd ints(long seed, int... shape) {
        return Ref.map(Ref.randn(seed, shape), v -> Math.rint(8 * v));
    }

    // ------------------------------------------------------------------ concat, split, stack, chunk

    @Test
    void concatAlongEveryAxis() {
        long seed = 1;
        for (DType dt : DTYPES) {
            for (int axis = -3; axis < 3; axis++) {
                int a = axis + (axis < 0 ? 3 : 0);
                int[][] shapes = new int[3][];
                for (int k = 0; k < 3; k++) {
                    shapes[k] = new int[] {2, 3, 4};
                    shapes[k][a] = new int[] {2, 0, 5}[k]; // a zero-length part in the middle
                }
                Nd[] parts = new Nd[3];
                Tensor[] ts = new Tensor[3];
                for (int k = 0; k < 3; k++) {
                    parts[k] = ints(seed++, shapes[k]);
                    ts[k] = Ref.make(dt, parts[k], Layout.values()[k]);
                }
                Tensor c = Views.concat(axis, ts);
                int[] cs = {2, 3, 4};
                cs[a] = 7;
                Nd expected = Nd.zeros(cs);
                for (int f = 0; f < expected.size(); f++) {
                    int[] idx = Ref.unravel(f, cs);
                    int k = idx[a] < 2 ? 0 : 2;
                    idx[a] -= k == 0 ? 0 : 2;
                    expected.v()[f] = parts[k].at(idx);
                }
                assertThat(c.dtype()).isEqualTo(dt);
                Ref.assertEqual("concat " + dt + " axis " + axis, c, expected);
            }
        }
    }

    @Test
    void splitAndChunkAreViewsThatConcatBack() {
        Nd x = ints(3, 4, 6, 8);
        for (Layout layout : Layout.values()) {
            Tensor t = Ref.make(DType.F32, x, layout);
            for (int axis = 0; axis < 3; axis++) {
                int size = x.shape()[axis];
                int[] sizes = {1, size - 3, 0, 2};
                Tensor[] parts = Views.split(t, axis, sizes);
                int at = 0;
                for (int i = 0; i < sizes.length; i++) {
                    assertThat(parts[i].size(axis)).isEqualTo(sizes[i]);
                    assertThat(parts[i].storage()).isSameAs(t.storage());
                    Ref.assertEqual("split part " + i, parts[i], Ref.read(t.narrow(axis, at, sizes[i])));
                    at += sizes[i];
                }
                Ref.assertEqual("concat(split)", Views.concat(axis, parts), x);
                Tensor[] chunks = Views.chunk(t, axis, 2);
                assertThat(chunks).hasSize(2);
                Ref.assertEqual("concat(chunk)", Views.concat(axis, chunks), x);
            }
        }
    }

    @Test
    void stackAlongEveryAxis() {
        Nd a = ints(5, 3, 4);
        Nd b = ints(6, 3, 4);
        for (int axis = -3; axis < 3; axis++) {
            int ax = axis < 0 ? axis + 3 : axis;
            Tensor s = Views.stack(
                    axis, Ref.make(DType.F64, a, Layout.TRANSPOSED), Ref.make(DType.F64, b, Layout.NARROWED));
            int[] shape = {3, 4};
            int[] ss = new int[3];
            for (int i = 0, j = 0; i < 3; i++) {
                ss[i] = i == ax ? 2 : shape[j++];
            }
            Nd expected = Nd.zeros(ss);
            for (int f = 0; f < expected.size(); f++) {
                int[] idx = Ref.unravel(f, ss);
                int[] src = new int[2];
                for (int i = 0, j = 0; i < 3; i++) {
                    if (i != ax) {
                        src[j++] = idx[i];
                    }
                }
                expected.v()[f] = (idx[ax] == 0 ? a : b).at(src);
            }
            Ref.assertEqual("stack axis " + axis, s, expected);
        }
    }

    // ------------------------------------------------------------------ gather, scatterAdd, indexSelect

    @Test
    void gatherAndScatterAddAlongEveryAxis() {
        long seed = 20;
        int[] xs = {3, 4, 5};
        for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16}) {
            for (int axis = 0; axis < 3; axis++) {
                Nd x = ints(seed++, xs);
                int[] is = {2, 3, 4};
                is[axis] = 7; // more picks than the axis has: repeats
                long[] idx = Ref.ints(seed++, (int) Ref.numel(is), xs[axis]);
                Tensor index = seed % 2 == 0
                        ? Tensor.ofLongs(idx, is)
                        : Tensor.ofLongs(idx, is).to(DType.I32);
                Tensor g = Indexing.gather(Ref.make(dt, x, Layout.values()[axis]), axis, index);
                Nd expected = Nd.zeros(is);
                for (int f = 0; f < expected.size(); f++) {
                    int[] p = Ref.unravel(f, is);
                    p[axis] = (int) idx[f];
                    expected.v()[f] = x.at(p);
                }
                Ref.assertEqual("gather " + dt + " axis " + axis, g, expected);

                Nd base = ints(seed++, xs);
                Nd src = ints(seed++, is);
                Tensor s = Indexing.scatterAdd(
                        Ref.make(dt, base, Layout.TRANSPOSED), axis, index, Ref.make(dt, src, Layout.NARROWED));
                Nd sum = new Nd(base.v().clone(), xs);
                for (int f = 0; f < src.size(); f++) {
                    int[] p = Ref.unravel(f, is);
                    p[axis] = (int) idx[f];
                    sum.v()[(int) Ref.ravel(p, xs)] += src.v()[f];
                }
                Ref.assertEqual("scatterAdd " + dt + " axis " + axis, s, dt == DType.BF16 ? Ref.round(dt, sum) : sum);
            }
        }
    }

    @Test
    void indexSelectAlongEveryAxisWithRepeats() {
        long seed = 40;
        for (DType dt : DTYPES) {
            for (int axis = -3; axis < 3; axis++) {
                int a = axis < 0 ? axis + 3 : axis;
                int[] xs = {3, 4, 5};
                Nd x = ints(seed++, xs);
                long[] idx = {xs[a] - 1, 0, xs[a] - 1, 1, 0};
                Tensor y = Ref.make(dt, x, Layout.values()[a]).indexSelect(axis, Tensor.ofLongs(idx, 5));
                int[] ys = xs.clone();
                ys[a] = 5;
                Nd expected = Nd.zeros(ys);
                for (int f = 0; f < expected.size(); f++) {
                    int[] p = Ref.unravel(f, ys);
                    p[a] = (int) idx[p[a]];
                    expected.v()[f] = x.at(p);
                }
                Ref.assertEqual("indexSelect " + dt + " axis " + axis, y, expected);
            }
        }
    }

    @Test
    void indexSelectBackwardAddsRepeatedSlices() {
        Nd x = Ref.randn(1, 4, 3);
        Tensor t = Tensor.of(x.v(), 4, 3).requiresGrad(true);
        Nd w = Ref.randn(2, 5, 3);
        long[] idx = {2, 0, 2, 3, 2};
        Indexing.indexSelect(t, 0, Tensor.ofLongs(idx, 5))
                .mul(Tensor.of(w.v(), 5, 3))
                .sum()
                .backward();
        Nd expected = Nd.zeros(4, 3);
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 3; j++) {
                expected.v()[(int) idx[i] * 3 + j] += w.at(i, j);
            }
        }
        Ref.assertClose("indexSelect'", t.grad(), expected, 1e-14, 1e-14);
    }

    // ------------------------------------------------------------------ where, maskedFill

    @Test
    void whereWithBroadcastingAndAnyConditionDtype() {
        long seed = 60;
        int[][][] cases = {{{3, 1, 5}, {4, 1}, {}}, {{7}, {7}, {7}}, {{2, 1}, {1, 9}, {2, 9}}, {{}, {3}, {3}}};
        for (DType cdt : new DType[] {DType.F32, DType.I64, DType.BF16, DType.I32}) {
            for (int[][] c : cases) {
                Nd cond = Ref.map(Ref.randn(seed++, c[0]), v -> v > 0 ? 1 : 0);
                Nd a = Ref.randn(seed++, c[1]);
                Nd b = Ref.randn(seed++, c[2]);
                Tensor y = Indexing.where(
                        Ref.make(cdt, cond, Layout.NARROWED),
                        Ref.make(DType.F64, a, Layout.TRANSPOSED),
                        Tensor.of(DType.F64, b.v(), b.shape()));
                int[] s = Ref.broadcastShape(Ref.broadcastShape(c[0], c[1]), c[2]);
                Nd expected = Nd.zeros(s);
                for (int f = 0; f < expected.size(); f++) {
                    int[] idx = Ref.unravel(f, s);
                    expected.v()[f] =
                            Ref.atBroadcast(cond, idx) != 0 ? Ref.atBroadcast(a, idx) : Ref.atBroadcast(b, idx);
                }
                Ref.assertEqual("where cond " + cdt + " " + Arrays.deepToString(c), y, expected);
            }
        }
    }

    @Test
    void maskedFillReplacesMaskedPositionsOnly() {
        Nd x = Ref.randn(3, 4, 5);
        Nd m = Ref.map(Ref.randn(4, 1, 5), v -> v > 0 ? 1 : 0);
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            Tensor y = Indexing.maskedFill(
                    Ref.make(dt, Ref.round(dt, x), Layout.TRANSPOSED), Tensor.of(DType.I32, m.v(), 1, 5), -7.5);
            assertThat(y.dtype()).isEqualTo(dt);
            Ref.assertEqual("maskedFill " + dt, y, Ref.zip(Ref.round(dt, x), m, (v, k) -> k != 0 ? -7.5 : v));
        }
    }

    // ------------------------------------------------------------------ cumsum, causalMask

    @Test
    void cumsumAlongEveryAxis() {
        long seed = 80;
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[] shape : new int[][] {{3, 7, 9}, {1013}, {1, 5}}) {
                for (int axis = -shape.length; axis < shape.length; axis++) {
                    int a = axis < 0 ? axis + shape.length : axis;
                    Nd x = Ref.round(dt, Ref.randn(seed++, shape));
                    Tensor y = Indexing.cumsum(Ref.make(dt, x, Layout.values()[(int) (seed % 3)]), axis);
                    Nd expected = Ref.alongAxis(x, a, v -> {
                        double[] r = new double[v.length];
                        double s = 0;
                        for (int i = 0; i < v.length; i++) {
                            s += v[i];
                            r[i] = s;
                        }
                        return r;
                    });
                    Nd scale = Ref.alongAxis(Ref.map(x, Math::abs), a, v -> {
                        double[] r = new double[v.length];
                        double s = 0;
                        for (int i = 0; i < v.length; i++) {
                            s += v[i];
                            r[i] = s;
                        }
                        return r;
                    });
                    Ref.assertWithin(
                            "cumsum " + dt + Arrays.toString(shape) + " axis " + axis,
                            y,
                            expected,
                            scale,
                            Ref.rtol(dt));
                }
            }
        }
    }

    @Test
    void cumsumBackwardIsAReverseCumsum() {
        Nd w = Ref.randn(3, 2, 6);
        Tensor x = Tensor.of(Ref.randn(1, 2, 6).v(), 2, 6).requiresGrad(true);
        Indexing.cumsum(x, 1).mul(Tensor.of(w.v(), 2, 6)).sum().backward();
        Nd expected = Ref.alongAxis(w, 1, v -> {
            double[] r = new double[v.length];
            double s = 0;
            for (int i = v.length - 1; i >= 0; i--) {
                s += v[i];
                r[i] = s;
            }
            return r;
        });
        Ref.assertClose("cumsum'", x.grad(), expected, 1e-14, 1e-14);
    }

    @Test
    void causalMaskMarksTheFuture() {
        for (int t : new int[] {1, 2, 5, 9}) {
            Tensor m = Indexing.causalMask(t);
            assertThat(m.shape()).containsExactly(t, t);
            for (int i = 0; i < t; i++) {
                for (int j = 0; j < t; j++) {
                    assertThat(m.get(i, j)).as("mask[%d,%d]", i, j).isEqualTo(j > i ? 1.0 : 0.0);
                }
            }
        }
    }
}
