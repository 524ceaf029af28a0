package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.Ref;
import fulgur.testing.Ref.Layout;
import fulgur.testing.Ref.Nd;
import fulgur.testing.ScopedTest;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** softmax, log-softmax, cross-entropy, embedding, RMSNorm, LayerNorm and dropout against f64 references. */
class NnOpsTest extends ScopedTest {

    static double tol(DType dt) {
        return dt == DType.F64 ? 1e-10 : 1e-5;
    }

    // ------------------------------------------------------------------ softmax

    @Test
    void softmaxAndLogSoftmaxOnEveryAxis() {
        long seed = 1;
        for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16}) {
            for (int[] shape : List.of(
                    new int[] {3, 7, 9}, new int[] {1013}, new int[] {2, 33}, new int[] {1, 1}, new int[] {4, 1, 17})) {
                for (int axis = -shape.length; axis < shape.length; axis++) {
                    for (boolean log : new boolean[] {false, true}) {
                        Layout layout = Layout.values()[(int) (seed % 3)];
                        Nd x = Ref.round(dt, Ref.map(Ref.randn(seed++, shape), v -> 3 * v));
                        Tensor t = Ref.make(dt, x, layout);
                        Tensor y = log ? Activations.logSoftmax(t, axis) : Activations.softmax(t, axis);
                        assertThat(y.dtype()).isEqualTo(dt);
                        Nd expected = Ref.alongAxis(x, axis, log ? Ref::logSoftmax : Ref::softmax);
                        String what = (log ? "logSoftmax " : "softmax ") + dt + Arrays.toString(shape) + " axis " + axis
                                + " " + layout;
                        if (dt == DType.BF16) {
                            Ref.assertClose(what, y, Ref.round(dt, expected), dt);
                        } else {
                            Ref.assertClose(what, y, expected, tol(dt), tol(dt) / 10);
                        }
                    }
                }
            }
        }
    }

    @Test
    void softmaxBackwardOnEveryAxis() {
        long seed = 50;
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[] shape : List.of(new int[] {3, 7, 9}, new int[] {1013}, new int[] {33, 2})) {
                for (int axis = 0; axis < shape.length; axis++) {
                    for (boolean log : new boolean[] {false, true}) {
                        Nd x = Ref.round(dt, Ref.randn(seed++, shape));
                        Nd w = Ref.round(dt, Ref.randn(seed++, shape));
                        Tensor t = Ref.make(dt, x, Layout.TRANSPOSED).requiresGrad(true);
                        Tensor y = log ? Activations.logSoftmax(t, axis) : Activations.softmax(t, axis);
                        y.mul(Tensor.of(dt, w.v(), shape)).sum().backward();
                        // d/dx Σ w·softmax = y ⊙ (w − Σ w·y);  d/dx Σ w·logSoftmax = w − softmax·Σ w
                        Nd expected = Ref.alongAxis(
                                axis,
                                s -> {
                                    double[] p = Ref.softmax(s[0]);
                                    double[] g = new double[p.length];
                                    double dot = 0;
                                    for (int i = 0; i < p.length; i++) {
                                        dot += log ? s[1][i] : s[1][i] * p[i];
                                    }
                                    for (int i = 0; i < p.length; i++) {
                                        g[i] = log ? s[1][i] - p[i] * dot : p[i] * (s[1][i] - dot);
                                    }
                                    return g;
                                },
                                x,
                                w);
                        Ref.assertClose(
                                (log ? "logSoftmax' " : "softmax' ") + dt + Arrays.toString(shape) + " axis " + axis,
                                t.grad(),
                                expected,
                                tol(dt),
                                tol(dt));
                    }
                }
            }
        }
    }

    @Test
    void softmaxWithCausalMaskIgnoresMaskedPositions() {
        Nd x = Ref.randn(3, 5, 5);
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            Tensor masked = Indexing.maskedFill(
                    Tensor.of(dt, Ref.round(dt, x.v()), 5, 5), Indexing.causalMask(5), Double.NEGATIVE_INFINITY);
            Tensor p = Activations.softmax(masked, -1);
            Tensor lp = Activations.logSoftmax(masked, -1);
            for (int i = 0; i < 5; i++) {
                double[] row = Arrays.copyOf(Ref.round(dt, Arrays.copyOfRange(x.v(), i * 5, i * 5 + 5)), i + 1);
                double[] ref = Ref.softmax(row);
                for (int j = 0; j < 5; j++) {
                    double expected = j <= i ? ref[j] : 0;
                    assertThat(p.get(i, j)).as("softmax %s [%d,%d]", dt, i, j).isCloseTo(expected, within(1e-6));
                    if (j > i) {
                        assertThat(lp.get(i, j)).isEqualTo(Double.NEGATIVE_INFINITY);
                    } else {
                        assertThat(lp.get(i, j)).isCloseTo(Math.log(ref[j]), within(1e-5));
                    }
                }
            }
        }
    }

    @Test
    void softmaxOfLargeLogitsDoesNotOverflow() {
        Tensor t = Tensor.of(new float[] {1000, 999, -1000, 88.8f, 89, 90}, 2, 3);
        double[] p = t.softmax(1).toDoubleArray();
        double e1 = Math.exp(-1);
        assertThat(p[0]).isCloseTo(1 / (1 + e1), within(1e-6));
        assertThat(p[1]).isCloseTo(e1 / (1 + e1), within(1e-6));
        assertThat(p[2]).isZero();
        assertThat(p[3] + p[4] + p[5]).isCloseTo(1, within(1e-6));
    }

    // ------------------------------------------------------------------ cross-entropy

    /** {loss, dlogits...}: mean over non-ignored rows of −Σ q log softmax, q = (1−ε)·onehot + ε/V. */
    static double[] crossEntropyRef(Nd logits, long[] targets, int ignore, double eps) {
        int v = logits.shape()[logits.ndim() - 1];
        int rows = logits.size() / v;
        double[] out = new double[1 + logits.size()];
        int count = 0;
        for (int r = 0; r < rows; r++) {
            if (targets[r] != ignore) {
                count++;
            }
        }
        for (int r = 0; r < rows; r++) {
            if (targets[r] == ignore) {
                continue;
            }
            double[] row = Arrays.copyOfRange(logits.v(), r * v, r * v + v);
            double[] lp = Ref.logSoftmax(row);
            for (int c = 0; c < v; c++) {
                double q = (c == targets[r] ? 1 - eps : 0) + eps / v;
                out[0] -= q * lp[c] / count;
                out[1 + r * v + c] = (Math.exp(lp[c]) - q) / count;
            }
        }
        return out;
    }

    @Test
    void crossEntropyWithIgnoreIndexAndLabelSmoothing() {
        long seed = 100;
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[] shape : List.of(
                    new int[] {7, 9},
                    new int[] {1, 3},
                    new int[] {2, 5, 33},
                    new int[] {33, 1013},
                    new int[] {4, 1},
                    new int[] {5})) {
                for (double eps : new double[] {0, 0.1, 1}) {
                    for (int ignore : new int[] {-100, 2}) {
                        int v = shape[shape.length - 1];
                        int rows = (int) (Ref.numel(shape) / v);
                        Nd x = Ref.round(dt, Ref.map(Ref.randn(seed++, shape), z -> 2 * z));
                        long[] t = Ref.ints(seed++, rows, v);
                        for (int r = 1; r < rows; r += 3) {
                            t[r] = ignore; // every third row ignored
                        }
                        int[] ts = Arrays.copyOf(shape, shape.length - 1);
                        Tensor targets = seed % 2 == 0
                                ? Tensor.ofLongs(t, ts)
                                : Tensor.of(
                                        DType.I32,
                                        Arrays.stream(t).asDoubleStream().toArray(),
                                        ts);
                        Tensor logits = Ref.make(dt, x, Layout.values()[(int) (seed % 3)])
                                .requiresGrad(true);
                        Tensor loss = Losses.crossEntropy(logits, targets, ignore, eps);
                        double[] ref = crossEntropyRef(x, t, ignore, eps);
                        String what = "CE " + dt + Arrays.toString(shape) + " eps " + eps + " ignore " + ignore;
                        assertThat(loss.ndim()).as(what).isZero();
                        assertThat(loss.item())
                                .as(what)
                                .isCloseTo(ref[0], within(tol(dt) * Math.max(1, Math.abs(ref[0]))));
                        loss.backward();
                        Ref.assertClose(
                                what + " grad",
                                logits.grad(),
                                new Nd(Arrays.copyOfRange(ref, 1, ref.length), shape),
                                tol(dt),
                                tol(dt) / rows);
                    }
                }
            }
        }
    }

    @Test
    void crossEntropyGradientScalesWithUpstreamGradient() {
        Nd x = Ref.randn(3, 4, 6);
        long[] t = {1, 5, -100, 0};
        Tensor logits = Tensor.of(x.v(), 4, 6).requiresGrad(true);
        Losses.crossEntropy(logits, Tensor.ofLongs(t, 4)).mul(-2.5).backward();
        double[] ref = crossEntropyRef(x, t, -100, 0);
        Ref.assertClose(
                "CE'·(−2.5)",
                logits.grad(),
                Ref.map(new Nd(Arrays.copyOfRange(ref, 1, ref.length), new int[] {4, 6}), g -> -2.5 * g),
                1e-12,
                1e-14);
    }

    @Test
    void maskedLogitsAtMinusInfinityGiveAFiniteLossWithoutSmoothing() {
        // row 0: words 0..2 masked to -inf; the loss is the log-softmax over the rest, not NaN
        double[] v = {Double.NEGATIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.NEGATIVE_INFINITY, 0.5, -1, 2};
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            Tensor logits = Tensor.of(dt, v, 1, 6);
            double lse = Math.log(Math.exp(0.5) + Math.exp(-1) + Math.exp(2));
            assertThat(Losses.crossEntropy(logits, Tensor.ofLongs(new long[] {5}, 1))
                            .item())
                    .isCloseTo(lse - 2, within(dt == DType.F32 ? 1e-6 : 1e-14));
        }
    }

    @Test
    void crossEntropyWithEveryRowIgnoredIsZero() {
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            Tensor logits = Tensor.of(dt, Ref.randn(1, 3, 5).v(), 3, 5).requiresGrad(true);
            Tensor loss = Losses.crossEntropy(logits, Tensor.ofInts(new int[] {-100, -100, -100}, 3));
            assertThat(loss.item()).isZero();
            loss.backward();
            assertThat(logits.grad().toDoubleArray()).containsOnly(0.0);
        }
    }

    // ------------------------------------------------------------------ embedding

    @Test
    void embeddingForwardAndScatterAddBackwardWithRepeatedIds() {
        long seed = 200;
        for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16}) {
            for (int d : new int[] {1, 9, 33}) {
                for (Layout layout : Layout.values()) {
                    int vocab = 11;
                    Nd w = Ref.round(dt, Ref.randn(seed++, vocab, d));
                    long[] ids = {3, 0, 3, 10, 3, 7, 0, 1, 10, 3}; // repeats
                    Tensor weight = Ref.make(dt, w, layout).requiresGrad(true);
                    long[] idsT = new long[10];
                    for (int i = 0; i < 2; i++) {
                        for (int j = 0; j < 5; j++) {
                            idsT[j * 2 + i] = ids[i * 5 + j];
                        }
                    }
                    Tensor idt = layout == Layout.TRANSPOSED
                            ? Tensor.ofLongs(idsT, 5, 2).transpose(0, 1) // the same ids through strides
                            : Tensor.ofLongs(ids, 2, 5);
                    Tensor out = Indexing.embedding(weight, layout == Layout.NARROWED ? idt.to(DType.I32) : idt);
                    assertThat(out.shape()).containsExactly(2, 5, d);
                    assertThat(out.dtype()).isEqualTo(dt);
                    Nd expected = Nd.zeros(2, 5, d);
                    for (int i = 0; i < 10; i++) {
                        for (int j = 0; j < d; j++) {
                            expected.v()[i * d + j] = w.at((int) ids[i], j);
                        }
                    }
                    Ref.assertEqual("embedding " + dt + " d=" + d + " " + layout, out, expected);
                    // backward: dW[v] = Σ over positions holding v of the upstream rows
                    Nd g = Ref.round(dt, Ref.randn(seed++, 2, 5, d));
                    out.mul(Tensor.of(dt, g.v(), 2, 5, d)).sum().backward();
                    Nd dw = Nd.zeros(vocab, d);
                    for (int i = 0; i < 10; i++) {
                        for (int j = 0; j < d; j++) {
                            dw.v()[(int) ids[i] * d + j] += g.v()[i * d + j];
                        }
                    }
                    if (dt == DType.BF16) {
                        Ref.assertClose("embedding' bf16", weight.grad(), dw, 1e-2, 1e-2);
                    } else {
                        Ref.assertClose("embedding' " + dt, weight.grad(), dw, tol(dt), tol(dt));
                    }
                }
            }
        }
    }

    @Test
    void embeddingOfScalarIdAndLargeGather() {
        Tensor w =
                Tensor.of(DType.F32, Ref.round(DType.F32, Ref.randn(4, 1013, 7).v()), 1013, 7);
        Tensor one = Indexing.embedding(w, Tensor.ofLongs(new long[] {1012}));
        assertThat(one.shape()).containsExactly(7);
        assertThat(one.toDoubleArray()).containsExactly(w.select(0, 1012).toDoubleArray());
        long[] ids = Ref.ints(5, 5000, 1013);
        Tensor many = Indexing.embedding(w, Tensor.ofLongs(ids, 5000));
        for (int i = 0; i < 5000; i += 97) {
            for (int j = 0; j < 7; j++) {
                assertThat(many.get(i, j)).isEqualTo(w.get((int) ids[i], j));
            }
        }
    }

    // ------------------------------------------------------------------ RMSNorm and LayerNorm

    /** RMSNorm of a row, and the gradients of Σ w·y: {y, dx, dgain}. */
    static double[][] rmsRef(double[] x, double[] gain, double[] w, double eps) {
        int n = x.length;
        double ms = 0;
        for (double v : x) {
            ms += v * v;
        }
        double r = 1 / Math.sqrt(ms / n + eps);
        double[] y = new double[n];
        double[] dx = new double[n];
        double[] dg = new double[n];
        double dot = 0;
        for (int c = 0; c < n; c++) {
            double g = gain == null ? 1 : gain[c];
            y[c] = x[c] * r * g;
            dg[c] = w[c] * x[c] * r;
            dot += w[c] * g * x[c];
        }
        for (int c = 0; c < n; c++) {
            double g = gain == null ? 1 : gain[c];
            dx[c] = r * w[c] * g - r * r * r * x[c] * dot / n;
        }
        return new double[][] {y, dx, dg};
    }

    /** LayerNorm of a row, and the gradients of Σ w·y: {y, dx, dweight, dbias}. */
    static double[][] layerRef(double[] x, double[] weight, double[] bias, double[] w, double eps) {
        int n = x.length;
        double mu = Ref.sum(x) / n;
        double var = 0;
        for (double v : x) {
            var += (v - mu) * (v - mu);
        }
        double r = 1 / Math.sqrt(var / n + eps);
        double[] y = new double[n];
        double[] xh = new double[n];
        double[] gy = new double[n];
        double mg = 0;
        double mgx = 0;
        for (int c = 0; c < n; c++) {
            xh[c] = (x[c] - mu) * r;
            y[c] = xh[c] * (weight == null ? 1 : weight[c]) + (bias == null ? 0 : bias[c]);
            gy[c] = w[c] * (weight == null ? 1 : weight[c]);
            mg += gy[c] / n;
            mgx += gy[c] * xh[c] / n;
        }
        double[] dx = new double[n];
        double[] dw = new double[n];
        for (int c = 0; c < n; c++) {
            dx[c] = r * (gy[c] - mg - xh[c] * mgx);
            dw[c] = w[c] * xh[c];
        }
        return new double[][] {y, dx, dw, w.clone()};
    }

    /** Runs a row-wise reference over [..., D] arrays: result k of every row, in the shape of x (or summed to [D]). */
    interface RowRef {
        double[][] apply(double[] x, double[] w);
    }

    static Nd rows(Nd x, Nd w, RowRef f, int k, boolean sumRows) {
        int d = x.shape()[x.ndim() - 1];
        int rows = x.size() / d;
        Nd out = sumRows ? Nd.zeros(d) : Nd.zeros(x.shape());
        for (int r = 0; r < rows; r++) {
            double[][] res =
                    f.apply(Arrays.copyOfRange(x.v(), r * d, r * d + d), Arrays.copyOfRange(w.v(), r * d, r * d + d));
            for (int c = 0; c < d; c++) {
                out.v()[(sumRows ? 0 : r * d) + c] += res[k][c];
            }
        }
        return out;
    }

    @Test
    void rmsNormWithAndWithoutGain() {
        long seed = 300;
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[] shape : List.of(new int[] {4, 33}, new int[] {7}, new int[] {2, 3, 9}, new int[] {5, 1})) {
                for (boolean withGain : new boolean[] {false, true}) {
                    for (double eps : new double[] {1e-6, 0.5}) {
                        int d = shape[shape.length - 1];
                        Nd x = Ref.round(dt, Ref.randn(seed++, shape));
                        Nd w = Ref.round(dt, Ref.randn(seed++, shape));
                        double[] gain = withGain
                                ? Ref.round(
                                        dt,
                                        Ref.map(Ref.randn(seed++, d), v -> 1 + 0.3 * v)
                                                .v())
                                : null;
                        Tensor xt = Ref.make(dt, x, Layout.values()[(int) (seed % 3)])
                                .requiresGrad(true);
                        Tensor gt = withGain ? Tensor.of(dt, gain, d).requiresGrad(true) : null;
                        Tensor y = Norms.rmsNorm(xt, gt, eps);
                        assertThat(y.dtype()).isEqualTo(dt);
                        RowRef f = (xr, wr) -> rmsRef(xr, gain, wr, eps);
                        String what = "rmsNorm " + dt + Arrays.toString(shape) + " gain " + withGain + " eps " + eps;
                        Ref.assertClose(what, y, rows(x, w, f, 0, false), tol(dt), tol(dt));
                        y.mul(Tensor.of(dt, w.v(), shape)).sum().backward();
                        Ref.assertClose(what + " dx", xt.grad(), rows(x, w, f, 1, false), tol(dt), tol(dt));
                        if (withGain) {
                            Ref.assertClose(what + " dgain", gt.grad(), rows(x, w, f, 2, true), tol(dt), tol(dt));
                        }
                    }
                }
            }
        }
    }

    @Test
    void layerNormWithAndWithoutWeightAndBias() {
        long seed = 400;
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[] shape : List.of(new int[] {4, 33}, new int[] {7}, new int[] {2, 3, 9})) {
                for (int variant = 0; variant < 4; variant++) {
                    boolean hasW = (variant & 1) != 0;
                    boolean hasB = (variant & 2) != 0;
                    int d = shape[shape.length - 1];
                    Nd x = Ref.round(dt, Ref.map(Ref.randn(seed++, shape), v -> 2 * v + 0.7));
                    Nd w = Ref.round(dt, Ref.randn(seed++, shape));
                    double[] weight = hasW
                            ? Ref.round(
                                    dt,
                                    Ref.map(Ref.randn(seed++, d), v -> 1 + 0.3 * v)
                                            .v())
                            : null;
                    double[] bias = hasB ? Ref.round(dt, Ref.randn(seed++, d).v()) : null;
                    Tensor xt =
                            Ref.make(dt, x, Layout.values()[(int) (seed % 3)]).requiresGrad(true);
                    Tensor wt = hasW ? Tensor.of(dt, weight, d).requiresGrad(true) : null;
                    Tensor bt = hasB ? Tensor.of(dt, bias, d).requiresGrad(true) : null;
                    Tensor y = Norms.layerNorm(xt, wt, bt, 1e-5);
                    RowRef f = (xr, wr) -> layerRef(xr, weight, bias, wr, 1e-5);
                    String what = "layerNorm " + dt + Arrays.toString(shape) + " weight " + hasW + " bias " + hasB;
                    Ref.assertClose(what, y, rows(x, w, f, 0, false), tol(dt), tol(dt));
                    y.mul(Tensor.of(dt, w.v(), shape)).sum().backward();
                    Ref.assertClose(what + " dx", xt.grad(), rows(x, w, f, 1, false), tol(dt), tol(dt));
                    if (hasW) {
                        Ref.assertClose(what + " dweight", wt.grad(), rows(x, w, f, 2, true), tol(dt), tol(dt));
                    }
                    if (hasB) {
                        Ref.assertClose(what + " dbias", bt.grad(), rows(x, w, f, 3, true), tol(dt), tol(dt));
                    }
                }
            }
        }
    }

    @Test
    void normsOfBf16InputsComputeInF32() {
        Nd x = Ref.round(DType.BF16, Ref.randn(9, 3, 33));
        Nd ones = Nd.zeros(3, 33);
        Tensor y = Norms.rmsNorm(Tensor.of(DType.BF16, x.v(), 3, 33), null, 1e-6);
        assertThat(y.dtype()).isEqualTo(DType.BF16);
        Ref.assertClose(
                "rmsNorm bf16",
                y,
                Ref.round(DType.BF16, rows(x, ones, (xr, wr) -> rmsRef(xr, null, wr, 1e-6), 0, false)),
                DType.BF16);
        Tensor l = Norms.layerNorm(Tensor.of(DType.BF16, x.v(), 3, 33), null, null, 1e-6);
        Ref.assertClose(
                "layerNorm bf16",
                l,
                Ref.round(DType.BF16, rows(x, ones, (xr, wr) -> layerRef(xr, null, null, wr, 1e-6), 0, false)),
                DType.BF16);
    }

    // ------------------------------------------------------------------ dropout

    @Test
    void dropoutIsDeterministicPerSeedAndKeepsAboutOneMinusP() {
        int n = 100_003;
        Tensor x = Tensor.full(DType.F64, 1.0, n);
        for (double p : new double[] {0.1, 0.5, 0.9}) {
            Tensor a = Activations.dropout(x, p, new Rng(42), true);
            Tensor b = Activations.dropout(x, p, new Rng(42), true);
            Tensor c = Activations.dropout(x, p, new Rng(43), true);
            double[] av = a.toDoubleArray();
            assertThat(av).isEqualTo(b.toDoubleArray());
            assertThat(av).isNotEqualTo(c.toDoubleArray());
            double keep = 1 / (1 - p);
            long kept = 0;
            long keptFirstHalf = 0;
            for (int i = 0; i < n; i++) {
                if (av[i] != 0 && av[i] != keep) {
                    org.assertj.core.api.Assertions.fail("mask value %s at %d is neither 0 nor 1/(1-p)", av[i], i);
                }
                if (av[i] != 0) {
                    kept++;
                    if (i < n / 2) {
                        keptFirstHalf++;
                    }
                }
            }
            double sigma = Math.sqrt(p * (1 - p) / n);
            assertThat((double) kept / n).as("kept fraction for p=%s", p).isCloseTo(1 - p, within(6 * sigma));
            assertThat((double) keptFirstHalf / (n / 2)).isCloseTo(1 - p, within(9 * sigma));
            // in expectation the output equals the input
            assertThat(Ref.sum(av) / n).isCloseTo(1, within(6 * sigma * keep));
        }
    }

    @Test
    void dropoutMasksInputsAndGradientsAlike() {
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F64}) {
            Nd xv = Ref.round(dt, Ref.randn(7, 5, 9));
            Tensor x = Ref.make(dt, xv, Layout.TRANSPOSED).requiresGrad(true);
            Tensor y = Activations.dropout(x, 0.3, new Rng(1), true);
            assertThat(y.dtype()).isEqualTo(dt);
            y.sum().backward();
            float keep = (float) (1 / 0.7);
            Nd yv = Ref.read(y);
            Nd gv = Ref.read(x.grad());
            for (int i = 0; i < xv.size(); i++) {
                double m = gv.v()[i];
                assertThat(m == 0 || Math.abs(m - keep) <= 1e-2 * keep)
                        .as("%s gradient %s", dt, m)
                        .isTrue();
                assertThat(yv.v()[i])
                        .isCloseTo(Ref.round(dt, xv.v()[i] * m), within(1e-6 + 1e-2 * Math.abs(xv.v()[i] * m)));
            }
        }
    }

    @Test
    void dropoutIdentityWhenPIsZeroOrNotTraining() {
        Tensor x = Tensor.of(Ref.randn(1, 4, 4).v(), 4, 4);
        assertThat(Activations.dropout(x, 0, new Rng(1), true)).isSameAs(x);
        assertThat(Activations.dropout(x, 0.5, new Rng(1), false)).isSameAs(x);
        Rng rng = new Rng(5);
        Activations.dropout(x, 0.5, rng, true);
        Tensor second = Activations.dropout(x, 0.5, rng, true);
        Rng replay = new Rng(5, 1); // the saved state after one draw reproduces the second mask
        assertThat(Activations.dropout(x, 0.5, replay, true).toDoubleArray()).containsExactly(second.toDoubleArray());
    }
}
