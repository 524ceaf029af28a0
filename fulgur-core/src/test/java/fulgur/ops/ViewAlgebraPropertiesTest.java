package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import fulgur.testing.Props;
import fulgur.testing.Ref;
import fulgur.testing.Ref.Nd;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Label;
import net.jqwik.api.Property;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Properties (jqwik) of broadcasting and of the view algebra on random shapes, strides and view chains. Every view
 * is also applied to a plain row-major oracle, so each property checks values, not only shapes. jqwik draws the
 * seed of each try; the generators below turn it into shapes, permutations and view chains.
 */
class ViewAlgebraPropertiesTest {
    private Scope scope;

    @BeforeEach
    void open() {
        scope = Scope.open("test");
    }

    @AfterEach
    void close() {
        scope.close();
    }

    /** Runs one try of a property in its own scope, from a jqwik-chosen seed (a failure reports the seed). */
    private static void inScope(long seed, Props.Body body) {
        try (Scope s = Scope.open("property")) {
            Props.replay(seed, body);
        }
    }

    // ------------------------------------------------------------------ a random view chain with its oracle

    /** A tensor and the row-major values it must show. */
    private record Pair(Tensor t, Nd nd) {}

    private static Pair base(SplittableRandom r) {
        int[] s = Props.shape(r, 1, 4, 5);
        double[] v = new double[(int) Ref.numel(s)];
        for (int i = 0; i < v.length; i++) {
            v[i] = i + 1; // distinct, exact in f32
        }
        return new Pair(Tensor.of(DType.F32, v, s), new Nd(v, s));
    }

    private static Nd permuteNd(Nd a, int[] perm) {
        int[] s = new int[perm.length];
        for (int i = 0; i < perm.length; i++) {
            s[i] = a.shape()[perm[i]];
        }
        Nd r = Nd.zeros(s);
        for (int f = 0; f < r.size(); f++) {
            int[] idx = Ref.unravel(f, s);
            int[] src = new int[perm.length];
            for (int i = 0; i < perm.length; i++) {
                src[perm[i]] = idx[i];
            }
            r.v()[f] = a.at(src);
        }
        return r;
    }

    private static Nd narrowNd(Nd a, int axis, int start, int len) {
        int[] s = a.shape().clone();
        s[axis] = len;
        Nd r = Nd.zeros(s);
        for (int f = 0; f < r.size(); f++) {
            int[] idx = Ref.unravel(f, s);
            idx[axis] += start;
            r.v()[f] = a.at(idx);
        }
        return r;
    }

    private static Nd reshapeNd(Nd a, int[] s) {
        return new Nd(a.v().clone(), s);
    }

    /** Applies 1 to 5 random view ops (permute, transpose, narrow, select, expand, unsqueeze, squeeze). */
    private static Pair randomView(SplittableRandom r) {
        Pair p = base(r);
        int steps = 1 + r.nextInt(5);
        for (int k = 0; k < steps; k++) {
            Tensor t = p.t;
            Nd nd = p.nd;
            int rank = t.ndim();
            switch (r.nextInt(7)) {
                case 0 -> {
                    int[] perm = Props.permutation(r, rank);
                    p = new Pair(t.permute(perm), permuteNd(nd, perm));
                }
                case 1 -> {
                    if (rank >= 2) {
                        int a = r.nextInt(rank);
                        int b = r.nextInt(rank);
                        int[] perm = new int[rank];
                        for (int i = 0; i < rank; i++) {
                            perm[i] = i;
                        }
                        perm[a] = b;
                        perm[b] = a;
                        p = new Pair(t.transpose(a, b), permuteNd(nd, perm));
                    }
                }
                case 2 -> {
                    int a = r.nextInt(rank);
                    int size = t.size(a);
                    int len = 1 + r.nextInt(size);
                    int start = r.nextInt(size - len + 1);
                    p = new Pair(t.narrow(a, start, len), narrowNd(nd, a, start, len));
                }
                case 3 -> {
                    if (rank >= 2) {
                        int a = r.nextInt(rank);
                        int i = r.nextInt(t.size(a));
                        Nd n = narrowNd(nd, a, i, 1);
                        int[] s = new int[rank - 1];
                        for (int d = 0, j = 0; d < rank; d++) {
                            if (d != a) {
                                s[j++] = nd.shape()[d];
                            }
                        }
                        p = new Pair(t.select(a, i), reshapeNd(n, s));
                    }
                }
                case 4 -> {
                    int[] target = t.shape();
                    boolean any = false;
                    for (int d = 0; d < rank; d++) {
                        if (target[d] == 1 && r.nextBoolean()) {
                            target[d] = 2 + r.nextInt(3);
                            any = true;
                        }
                    }
                    if (!any || r.nextInt(3) == 0) {
                        target = Shape.concat(new int[] {1 + r.nextInt(3)}, target);
                    }
                    p = new Pair(t.expand(target), Ref.broadcastTo(nd, target));
                }
                case 5 -> {
                    if (rank < 5) {
                        int a = r.nextInt(rank + 1);
                        int[] s = new int[rank + 1];
                        for (int d = 0, j = 0; d <= rank; d++) {
                            s[d] = d == a ? 1 : nd.shape()[j++];
                        }
                        p = new Pair(t.unsqueeze(a), reshapeNd(nd, s));
                    }
                }
                default -> {
                    for (int d = 0; d < rank; d++) {
                        if (t.size(d) == 1 && rank > 1) {
                            int[] s = new int[rank - 1];
                            for (int e = 0, j = 0; e < rank; e++) {
                                if (e != d) {
                                    s[j++] = nd.shape()[e];
                                }
                            }
                            p = new Pair(t.squeeze(d), reshapeNd(nd, s));
                            break;
                        }
                    }
                }
            }
        }
        return p;
    }

    // ------------------------------------------------------------------ view chains

    @Property(tries = 300, seed = "1")
    @Label("view chain values")
    void randomViewChainsShowTheOracleValues(@ForAll long seed) {
        inScope(seed, r -> {
            Pair p = randomView(r);
            Ref.assertEqual("view chain", p.t, p.nd);
        });
    }

    @Property(tries = 300, seed = "2")
    @Label("strided access vs contiguous copy")
    void elementAccessThroughStridesMatchesContiguousCopy(@ForAll long seed) {
        inScope(seed, r -> {
            Pair p = randomView(r);
            Tensor c = p.t.contiguous();
            assertThat(c.isContiguous()).isTrue();
            // read the copy's memory directly, row-major from its offset
            var seg = c.hostSegment("test");
            for (int i = 0; i < c.numel(); i++) {
                float raw = seg.getAtIndex(ValueLayout.JAVA_FLOAT, c.offset() + i);
                assertThat((double) raw).as("element %d", i).isEqualTo(p.t.getFlat(i));
                int[] idx = Ref.unravel(i, p.t.shape());
                assertThat(p.t.get(idx)).isEqualTo(p.nd.v()[i]);
            }
        });
    }

    @Property(tries = 300, seed = "3")
    @Label("permute∘inverse")
    void permuteThenInverseIsIdentity(@ForAll long seed) {
        inScope(seed, r -> {
            Pair p = randomView(r);
            int[] perm = Props.permutation(r, p.t.ndim());
            Tensor back = p.t.permute(perm).permute(Props.inverse(perm));
            assertThat(back.shape()).isEqualTo(p.t.shape());
            assertThat(back.strides()).isEqualTo(p.t.strides());
            assertThat(back.offset()).isEqualTo(p.t.offset());
            assertThat(back.storage()).isSameAs(p.t.storage());
            Ref.assertEqual("permute∘inverse", back, p.nd);
        });
    }

    @Property(tries = 300, seed = "4")
    @Label("transpose twice")
    void transposeTwiceIsIdentity(@ForAll long seed) {
        inScope(seed, r -> {
            Pair p = randomView(r);
            if (p.t.ndim() == 0) {
                return;
            }
            int a = r.nextInt(p.t.ndim()) - (r.nextBoolean() ? p.t.ndim() : 0); // negative axes too
            int b = r.nextInt(p.t.ndim());
            Tensor back = p.t.transpose(a, b).transpose(a, b);
            assertThat(back.shape()).isEqualTo(p.t.shape());
            assertThat(back.strides()).isEqualTo(p.t.strides());
            Ref.assertEqual("transpose twice", back, p.nd);
            if (p.t.ndim() >= 2) {
                Tensor mt = p.t.mT();
                assertThat(mt.mT().strides()).isEqualTo(p.t.strides());
            }
        });
    }

    @Property(tries = 300, seed = "5")
    @Label("narrow∘narrow")
    void narrowOfNarrowIsOneNarrow(@ForAll long seed) {
        inScope(seed, r -> {
            Pair p = randomView(r);
            int a = r.nextInt(p.t.ndim());
            int size = p.t.size(a);
            int l1 = r.nextInt(size + 1);
            int s1 = r.nextInt(size - l1 + 1);
            int l2 = r.nextInt(l1 + 1);
            int s2 = r.nextInt(l1 - l2 + 1);
            Tensor twice = p.t.narrow(a, s1, l1).narrow(a, s2, l2);
            Tensor once = p.t.narrow(a, s1 + s2, l2);
            assertThat(twice.shape()).isEqualTo(once.shape());
            assertThat(twice.strides()).isEqualTo(once.strides());
            assertThat(twice.offset()).isEqualTo(once.offset());
            Ref.assertEqual("narrow∘narrow", twice, narrowNd(p.nd, a, s1 + s2, l2));
        });
    }

    // ------------------------------------------------------------------ reshape

    @Property(tries = 500, seed = "6")
    @Label("reshape of view")
    void reshapeEqualsReshapeOfContiguousCopy(@ForAll long seed) {
        inScope(seed, r -> {
            Pair p = randomView(r);
            int[] ns = Props.refactor(r, p.t.numel());
            Tensor v = p.t.reshape(ns);
            Tensor c = p.t.contiguous().reshape(ns);
            assertThat(v.shape()).isEqualTo(ns);
            Ref.assertEqual(
                    "reshape " + Arrays.toString(p.t.shape()) + Arrays.toString(p.t.strides()) + " → "
                            + Arrays.toString(ns),
                    v,
                    reshapeNd(p.nd, ns));
            Ref.assertEqual("reshape of contiguous copy", c, reshapeNd(p.nd, ns));
            // a reshape that can be a view must be one, and a reshape of a contiguous tensor always can
            boolean canView = bruteForceViewStrides(p.t.shape(), p.t.strides(), ns) != null;
            assertThat(v.storage() == p.t.storage())
                    .as(
                            "view iff strides allow (%s strides %s → %s)",
                            Arrays.toString(p.t.shape()), Arrays.toString(p.t.strides()), Arrays.toString(ns))
                    .isEqualTo(canView);
            if (p.t.isContiguous()) {
                assertThat(v.storage()).isSameAs(p.t.storage());
            }
        });
    }

    @Property(tries = 200, seed = "7")
    @Label("reshape -1")
    void reshapeWithInferredDimension(@ForAll long seed) {
        inScope(seed, r -> {
            Pair p = randomView(r);
            int[] ns = Props.refactor(r, p.t.numel());
            if (ns.length == 0) {
                return;
            }
            int at = r.nextInt(ns.length);
            int[] req = ns.clone();
            req[at] = -1;
            Tensor v = p.t.reshape(req);
            assertThat(v.shape()).isEqualTo(ns);
            Ref.assertEqual("reshape -1", v, reshapeNd(p.nd, ns));
        });
    }

    /** Offset of element idx under (strides, offset 0). */
    private static long offsetOf(int[] idx, long[] strides) {
        long o = 0;
        for (int i = 0; i < idx.length; i++) {
            o += idx[i] * strides[i];
        }
        return o;
    }

    /**
     * Strides that show the elements of (old, oldStrides) in row-major order under newShape, found by brute force: each
     * new dimension's stride is the offset step of its unit index, then every element is verified. Null if none.
     */
    static long[] bruteForceViewStrides(int[] old, long[] oldStrides, int[] newShape) {
        long n = Ref.numel(old);
        if (n == 0) {
            return Shape.contiguousStrides(newShape);
        }
        long[] st = new long[newShape.length];
        long[] contig = Shape.contiguousStrides(newShape);
        for (int k = 0; k < newShape.length; k++) {
            if (newShape[k] > 1) {
                st[k] = offsetOf(Ref.unravel(contig[k], old), oldStrides);
            }
        }
        for (long f = 0; f < n; f++) {
            if (offsetOf(Ref.unravel(f, old), oldStrides) != offsetOf(Ref.unravel(f, newShape), st)) {
                return null;
            }
        }
        return st;
    }

    private static long[] randomStrides(SplittableRandom r, int[] shape) {
        long[] st = new long[shape.length];
        switch (r.nextInt(3)) {
            case 0 -> { // arbitrary, including 0 and coincidences
                for (int i = 0; i < st.length; i++) {
                    st[i] = r.nextInt(13);
                }
            }
            case 1 -> { // a permuted contiguous layout
                int[] perm = Props.permutation(r, shape.length);
                long s = 1;
                for (int i = shape.length - 1; i >= 0; i--) {
                    st[perm[i]] = s;
                    s *= shape[perm[i]];
                }
            }
            default -> { // contiguous with some padded or broadcast dims
                long s = 1;
                for (int i = shape.length - 1; i >= 0; i--) {
                    int pick = r.nextInt(4);
                    st[i] = pick == 0 ? 0 : s;
                    s *= shape[i] + (pick == 1 ? 1 : 0);
                }
            }
        }
        return st;
    }

    @Property(tries = 3000, seed = "8")
    @Label("viewStrides")
    void viewStridesIsSoundAndComplete(@ForAll long seed) {
        inScope(seed, r -> {
            int[] old = Props.shape(r, 0, 5, 4);
            long[] os = randomStrides(r, old);
            int[] ns = Props.refactor(r, Ref.numel(old));
            long[] got = Views.viewStrides(old, os, ns);
            long[] brute = bruteForceViewStrides(old, os, ns);
            String c = Arrays.toString(old) + " strides " + Arrays.toString(os) + " → " + Arrays.toString(ns) + " gave "
                    + Arrays.toString(got);
            if (got != null) {
                assertThat(got).as(c).hasSize(ns.length);
                for (long f = 0; f < Ref.numel(old); f++) {
                    assertThat(offsetOf(Ref.unravel(f, ns), got))
                            .as("%s: element %d", c, f)
                            .isEqualTo(offsetOf(Ref.unravel(f, old), os));
                }
            }
            assertThat(got != null)
                    .as("%s but a view exists: %s", c, Arrays.toString(brute))
                    .isEqualTo(brute != null);
        });
    }

    @Test
    void reshapeOfEmptyTensors() {
        Tensor e = Tensor.zeros(DType.F32, 3, 0, 4);
        assertThat(e.reshape(0, 12).shape()).containsExactly(0, 12);
        assertThat(e.reshape(4, -1, 3).shape()).containsExactly(4, 0, 3);
        assertThat(e.permute(2, 0, 1).reshape(6, 0, 2).shape()).containsExactly(6, 0, 2);
        assertThatThrownBy(() -> e.reshape(-1, 0)).hasMessageContaining("reshape");
    }

    // ------------------------------------------------------------------ broadcasting

    /** A pair of shapes that broadcast: b derived from a by replacing dims with 1 and dropping leading ones. */
    private static int[][] compatiblePair(SplittableRandom r) {
        int[] full = Props.shape(r, 0, 5, 5);
        int[][] pair = new int[2][];
        for (int k = 0; k < 2; k++) {
            int drop = r.nextInt(full.length + 1);
            int[] s = Arrays.copyOfRange(full, drop, full.length);
            for (int i = 0; i < s.length; i++) {
                if (r.nextInt(3) == 0) {
                    s[i] = 1;
                }
            }
            pair[k] = s;
        }
        return pair;
    }

    @Property(tries = 1000, seed = "9")
    @Label("broadcast rules")
    void broadcastShapeRules(@ForAll long seed) {
        inScope(seed, r -> {
            int[][] p = r.nextInt(4) == 0
                    ? new int[][] {Props.shape(r, 0, 4, 4), Props.shape(r, 0, 4, 4)}
                    : compatiblePair(r);
            int[] expected = Ref.broadcastShape(p[0], p[1]);
            if (expected == null) {
                assertThatThrownBy(() -> Shape.broadcast("op", p[0], p[1]))
                        .hasMessageContaining("op")
                        .hasMessageContaining("cannot be broadcast")
                        .hasMessageContaining(Arrays.toString(p[0]))
                        .hasMessageContaining(Arrays.toString(p[1]));
                assertThatThrownBy(() -> Shape.broadcast("op", p[1], p[0])).hasMessageContaining("cannot be broadcast");
                return;
            }
            assertThat(Shape.broadcast("op", p[0], p[1])).isEqualTo(expected);
            assertThat(Shape.broadcast("op", p[1], p[0])).as("commutative").isEqualTo(expected);
            assertThat(Shape.broadcast("op", expected, p[0])).as("idempotent").isEqualTo(expected);
        });
    }

    @Property(tries = 300, seed = "10")
    @Label("broadcast vs expand")
    void broadcastIsCompatibleWithExpandAndBinaryOps(@ForAll long seed) {
        inScope(seed, r -> {
            int[][] p = compatiblePair(r);
            int[] bc = Ref.broadcastShape(p[0], p[1]);
            Nd a = Ref.randn(r.nextLong(), p[0]);
            Nd b = Ref.randn(r.nextLong(), p[1]);
            Tensor ta = Tensor.of(DType.F64, a.v(), p[0]);
            Tensor tb = Tensor.of(DType.F64, b.v(), p[1]);
            Tensor ea = ta.expand(bc);
            Tensor eb = tb.expand(bc);
            Ref.assertEqual("expand a", ea, Ref.broadcastTo(a, bc));
            Ref.assertEqual("expand b", eb, Ref.broadcastTo(b, bc));
            Nd sum = Ref.zip(a, b, Double::sum);
            Ref.assertClose("a+b", ta.add(tb), sum, 1e-15, 0);
            Ref.assertClose("b+a", tb.add(ta), sum, 1e-15, 0);
            Ref.assertClose("expand(a)+expand(b)", ea.add(eb), sum, 1e-15, 0);
        });
    }
}
