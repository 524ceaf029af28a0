package fulgur.ops.lcsm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import fulgur.testing.Ref;
import fulgur.testing.ScopedTest;
import org.junit.jupiter.api.Test;

/** The EOS scan: naive f64 oracle, chunked and recurrent forms, states, gradients and closed forms. */
class LcsmScanTest extends ScopedTest {

    static Tensor randn(long seed, double std, int... shape) {
        return Tensor.of(Ref.normal(seed, (int) Ref.numel(shape), std), shape);
    }

    /** log o in (−1, 0): a decay in (0.37, 1). */
    static Tensor logDecay(long seed, int... shape) {
        double[] u = Ref.uniform(seed, (int) Ref.numel(shape), -1, -0.01);
        return Tensor.of(u, shape);
    }

    /** Value at (b, t, k, d) of a rank-4 tensor broadcast to the full shape. */
    static double bget(double[] v, int[] shape, int b, int t, int k, int d) {
        int[] c = {b, t, k, d};
        int flat = 0;
        for (int a = 0; a < 4; a++) {
            flat = flat * shape[a] + (shape[a] == 1 ? 0 : c[a]);
        }
        return v[flat];
    }

    /** The recurrence written out: returns y [B, T, d] followed by m_T [B, k, d]. */
    static double[] naive(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0, int k) {
        int bs = i.size(0);
        int n = i.size(1);
        int d = i.size(2);
        double[] iv = i.toDoubleArray();
        double[] ev = e.toDoubleArray();
        double[] ov = logO.toDoubleArray();
        double[] sv = s.toDoubleArray();
        double[] out = new double[bs * n * d + bs * k * d];
        for (int b = 0; b < bs; b++) {
            double[][] m = new double[k][d];
            if (m0 != null) {
                double[] mv = m0.toDoubleArray();
                for (int r = 0; r < k; r++) {
                    for (int c = 0; c < d; c++) {
                        m[r][c] = mv[(b * k + r) * d + c];
                    }
                }
            }
            for (int t = 0; t < n; t++) {
                for (int r = 0; r < k; r++) {
                    for (int c = 0; c < d; c++) {
                        m[r][c] = Math.exp(bget(ov, logO.shape(), b, t, r, c)) * m[r][c]
                                + bget(ev, e.shape(), b, t, r, c) * iv[(b * n + t) * d + c];
                        out[(b * n + t) * d + c] += bget(sv, s.shape(), b, t, r, c) * m[r][c];
                    }
                }
            }
            for (int r = 0; r < k; r++) {
                for (int c = 0; c < d; c++) {
                    out[bs * n * d + (b * k + r) * d + c] = m[r][c];
                }
            }
        }
        return out;
    }

    static double[] flat(Lcsm.Result r) {
        return Views.concat(0, Views.reshape(r.output(), -1), Views.reshape(r.finalState(), -1))
                .toDoubleArray();
    }

    static final int B = 2;
    static final int T = 11;
    static final int K = 3;
    static final int D = 5;

    /** Data-dependent e, o, s (Mamba-like) and data-independent ones (learned matrices, k-vector decay). */
    static Tensor[][] cases() {
        return new Tensor[][] {
            {randn(1, 1, B, T, D), randn(2, 1, B, T, K, 1), logDecay(3, B, T, K, D), randn(4, 1, B, T, K, 1)},
            {randn(5, 1, B, T, D), randn(6, 1, 1, 1, K, D), logDecay(7, 1, 1, K, 1), randn(8, 1, 1, 1, K, D)},
            {randn(9, 1, B, T, D), randn(10, 1, B, T, K, 1), logDecay(11, B, T, 1, D), randn(12, 1, B, T, K, 1)},
        };
    }

    @Test
    void chunkedAndRecurrentEqualTheNaiveScan() {
        for (Tensor[] c : cases()) {
            for (boolean withState : new boolean[] {false, true}) {
                Tensor m0 = withState ? randn(13, 1, B, K, D) : null;
                double[] ref = naive(c[0], c[1], c[2], c[3], m0, K);
                assertThat(GradCheck.relErr(flat(Lcsm.recurrent(c[0], c[1], c[2], c[3], m0)), ref))
                        .isLessThan(1e-12);
                assertThat(GradCheck.relErr(flat(Lcsm.scan(c[0], c[1], c[2], c[3], m0)), ref))
                        .isLessThan(1e-12);
                for (int chunk : new int[] {1, 4, 16}) {
                    assertThat(GradCheck.relErr(flat(Lcsm.chunked(c[0], c[1], c[2], c[3], m0, chunk)), ref))
                            .as("chunk %d", chunk)
                            .isLessThan(1e-12);
                }
            }
        }
    }

    @Test
    void f32FormsMatchTheF64Oracle() {
        for (Tensor[] c : cases()) {
            Tensor m0 = randn(14, 1, B, K, D);
            double[] ref = naive(c[0], c[1], c[2], c[3], m0, K);
            Tensor[] f = new Tensor[4];
            for (int a = 0; a < 4; a++) {
                f[a] = c[a].to(DType.F32);
            }
            Lcsm.Result r = Lcsm.chunked(f[0], f[1], f[2], f[3], m0.to(DType.F32), 4);
            assertThat(r.output().dtype()).isEqualTo(DType.F32);
            assertThat(GradCheck.relErr(flat(r), ref)).isLessThan(1e-5);
            assertThat(GradCheck.relErr(flat(Lcsm.recurrent(f[0], f[1], f[2], f[3], m0.to(DType.F32))), ref))
                    .isLessThan(1e-5);
            assertThat(GradCheck.relErr(flat(Lcsm.scan(f[0], f[1], f[2], f[3], m0.to(DType.F32))), ref))
                    .isLessThan(1e-5);
        }
    }

    @Test
    void chunkedAndRecurrentAgreeInEveryGradient() {
        for (Tensor[] c : cases()) {
            Tensor m0 = randn(15, 1, B, K, D);
            Tensor wy = randn(16, 1, B, T, D);
            Tensor wm = randn(17, 1, B, K, D);
            double[][] grads = new double[3][];
            for (int form = 0; form < 3; form++) {
                Tensor[] in = {c[0].copy(), c[1].copy(), c[2].copy(), c[3].copy(), m0.copy()};
                for (Tensor t : in) {
                    t.requiresGrad(true);
                }
                Lcsm.Result r = switch (form) {
                    case 0 -> Lcsm.chunked(in[0], in[1], in[2], in[3], in[4], 4);
                    case 1 -> Lcsm.recurrent(in[0], in[1], in[2], in[3], in[4]);
                    default -> Lcsm.scan(in[0], in[1], in[2], in[3], in[4]);
                };
                r.output().mul(wy).sum().add(r.finalState().mul(wm).sum()).backward();
                Tensor[] g = new Tensor[5];
                for (int a = 0; a < 5; a++) {
                    g[a] = Views.reshape(in[a].grad(), -1);
                }
                grads[form] = Views.concat(0, g).toDoubleArray();
            }
            assertThat(GradCheck.relErr(grads[0], grads[1])).isLessThan(1e-12);
            assertThat(GradCheck.relErr(grads[2], grads[1])).isLessThan(1e-12);
        }
    }

    @Test
    void finiteDifferenceGradientsOfTheChunkedForm() {
        int b = 1;
        int n = 6;
        int k = 2;
        int d = 3;
        GradCheck.check(
                t -> flatResult(Lcsm.chunked(t[0], t[1], t[2], t[3], t[4], 4)),
                randn(20, 1, b, n, d),
                randn(21, 1, b, n, k, 1),
                logDecay(22, b, n, k, d),
                randn(23, 1, b, n, k, 1),
                randn(24, 1, b, k, d));
        GradCheck.check(
                t -> flatResult(Lcsm.chunked(t[0], t[1], t[2], t[3], null, 4)),
                randn(25, 1, b, n, d),
                randn(26, 1, 1, 1, k, d),
                logDecay(27, 1, 1, k, 1),
                randn(28, 1, 1, 1, k, d));
    }

    @Test
    void finiteDifferenceGradientsOfTheFusedScan() {
        GradCheck.check(
                t -> flatResult(Lcsm.scan(t[0], t[1], t[2], t[3], t[4])),
                randn(40, 1, 2, 5, 3),
                randn(41, 1, 2, 5, 2, 1),
                logDecay(42, 2, 5, 1, 3),
                randn(43, 1, 1, 1, 2, 3),
                randn(44, 1, 2, 2, 3));
    }

    @Test
    void theDefaultBackendKernelsEqualTheCpuKernels() {
        // what a backend without its own LCSM kernel (CUDA today) runs
        Tensor[] c = cases()[0];
        Tensor m0 = randn(45, 1, B, K, D);
        int[] full = {B, T, K, D};
        Tensor e = c[1].expand(full);
        Tensor o = c[2].expand(full);
        Tensor s = c[3].expand(full);
        Tensor cpu = LcsmCpu.INSTANCE.forward(c[0], e, o, s, m0);
        assertThat(GradCheck.relErr(LcsmComposed.forward(c[0], e, o, s, m0).toDoubleArray(), cpu.toDoubleArray()))
                .isLessThan(1e-13);
        Tensor g = randn(46, 1, (int) cpu.numel());
        Tensor[] want = LcsmCpu.INSTANCE.backward(c[0], e, o, s, m0, g);
        Tensor[] got = LcsmComposed.backward(c[0], e, o, s, m0, g);
        for (int a = 0; a < 5; a++) {
            assertThat(GradCheck.relErr(got[a].toDoubleArray(), want[a].toDoubleArray()))
                    .as("gradient %d", a)
                    .isLessThan(1e-13);
        }
    }

    static Tensor flatResult(Lcsm.Result r) {
        return Views.concat(0, Views.reshape(r.output(), -1), Views.reshape(r.finalState(), -1));
    }

    @Test
    void allOnesOscillationIsCausalLinearAttention() {
        // s = q, e = k, i = v, o = J: y_t = Σ_{j≤t} (q_t·k_j) v_j
        Tensor q = randn(30, 1, B, T, K);
        Tensor kk = randn(31, 1, B, T, K);
        Tensor v = randn(32, 1, B, T, D);
        Tensor y = Lcsm.chunked(
                        v, Views.unsqueeze(kk, 3), Tensor.zeros(DType.F64, 1, 1, 1, 1), Views.unsqueeze(q, 3), null, 4)
                .output();
        Tensor scores = q.matmul(kk.mT()).mul(Tensor.of(tril(T), T, T));
        assertThat(GradCheck.relErr(y.toDoubleArray(), scores.matmul(v).toDoubleArray()))
                .isLessThan(1e-13);
    }

    @Test
    void constantDecayIsTnlStyleAttention() {
        // o = λ_k J: y_t = Σ_{j≤t} Σ_k q_t[k] λ_k^{t−j} k_j[k] v_j
        double[] lambda = {0.9, 0.5, 0.99};
        double[] log = new double[K];
        for (int r = 0; r < K; r++) {
            log[r] = Math.log(lambda[r]);
        }
        Tensor q = randn(33, 1, B, T, K);
        Tensor kk = randn(34, 1, B, T, K);
        Tensor v = randn(35, 1, B, T, D);
        Tensor y = Lcsm.chunked(v, Views.unsqueeze(kk, 3), Tensor.of(log, 1, 1, K, 1), Views.unsqueeze(q, 3), null, 4)
                .output();
        double[] qv = q.toDoubleArray();
        double[] kv = kk.toDoubleArray();
        double[] vv = v.toDoubleArray();
        double[] expect = new double[B * T * D];
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                for (int j = 0; j <= t; j++) {
                    double w = 0;
                    for (int r = 0; r < K; r++) {
                        w += qv[(b * T + t) * K + r] * Math.pow(lambda[r], t - j) * kv[(b * T + j) * K + r];
                    }
                    for (int c = 0; c < D; c++) {
                        expect[(b * T + t) * D + c] += w * vv[(b * T + j) * D + c];
                    }
                }
            }
        }
        assertThat(GradCheck.relErr(y.toDoubleArray(), expect)).isLessThan(1e-13);
    }

    static double[] tril(int n) {
        double[] m = new double[n * n];
        for (int a = 0; a < n; a++) {
            for (int b = 0; b <= a; b++) {
                m[a * n + b] = 1;
            }
        }
        return m;
    }

    @Test
    void splittingTheSequenceThroughTheStateChangesNothing() {
        Tensor[] c = cases()[0];
        Lcsm.Result whole = Lcsm.chunked(c[0], c[1], c[2], c[3], null, 4);
        Lcsm.Result first = Lcsm.chunked(
                c[0].narrow(1, 0, 7), c[1].narrow(1, 0, 7), c[2].narrow(1, 0, 7), c[3].narrow(1, 0, 7), null, 4);
        Lcsm.Result rest = Lcsm.recurrent(
                c[0].narrow(1, 7, 4),
                c[1].narrow(1, 7, 4),
                c[2].narrow(1, 7, 4),
                c[3].narrow(1, 7, 4),
                first.finalState());
        assertThat(GradCheck.relErr(
                        rest.output().toDoubleArray(),
                        whole.output().narrow(1, 7, 4).toDoubleArray()))
                .isLessThan(1e-13);
        assertThat(GradCheck.relErr(
                        rest.finalState().toDoubleArray(), whole.finalState().toDoubleArray()))
                .isLessThan(1e-13);
    }

    @Test
    void badShapesNameTheArgument() {
        Tensor i = randn(1, 1, B, T, D);
        Tensor e = randn(2, 1, B, T, K, 1);
        Tensor o = logDecay(3, B, T, K, D);
        Tensor s = randn(4, 1, B, T, K, 1);
        assertThatThrownBy(() -> Lcsm.chunked(randn(1, 1, B, T), e, o, s, null, 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("i must");
        assertThatThrownBy(() -> Lcsm.chunked(i, randn(2, 1, B, T, K), o, s, null, 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("e ");
        assertThatThrownBy(() -> Lcsm.chunked(i, e, logDecay(3, B, T + 1, K, D), s, null, 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("logO");
        assertThatThrownBy(() -> Lcsm.recurrent(i, e, o, randn(4, 1, B, T, K + 1, 1), null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("does not broadcast");
        assertThatThrownBy(() -> Lcsm.chunked(i, e, o, s, randn(5, 1, B, K, D + 1), 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("m0");
        assertThatThrownBy(() -> Lcsm.scan(i, e.to(DType.F32), o, s, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("dtype");
        assertThatThrownBy(() -> Lcsm.scan(i, e, o, s, randn(5, 1, B + 1, K, D)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("m0");
        assertThatThrownBy(() -> Lcsm.chunked(i, e, o, s, null, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("chunk");
        assertThatThrownBy(() -> Lcsm.chunked(Tensor.ofLongs(new long[B * T * D], B, T, D), e, o, s, null, 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("floating");
    }
}
