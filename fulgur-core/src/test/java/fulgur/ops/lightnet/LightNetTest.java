package fulgur.ops.lightnet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.ops.LinearAlgebra;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** LightNet's additive recurrence: naive (f64 oracle), chunked and recurrent forms, and the global form. */
class LightNetTest {

    /** Awkward sizes: T not a multiple of the chunk, dk ≠ dv. */
    private static final LightNetNaive.Dims DIMS = new LightNetNaive.Dims(2, 13, 2, 3, 5);

    private static final int CHUNK = 4;

    /** Inputs as arrays; keys spread wide (std kStd) so the normaliser moves a lot. */
    record Inputs(double[] q, double[] k, double[] v, double[] s0, double[] z0) {
        static Inputs random(LightNetNaive.Dims d, long seed, double kStd, boolean withState) {
            SplittableRandom r = new SplittableRandom(seed);
            int nq = d.b() * d.t() * d.h() * d.dk(), nv = d.b() * d.t() * d.h() * d.dv();
            double[] s0 = withState ? gauss(r, d.b() * d.h() * d.dk() * d.dv(), 1) : null;
            double[] z0 = withState ? gauss(r, d.b() * d.h() * d.dk(), 1) : null;
            return new Inputs(gauss(r, nq, 1), gauss(r, nq, kStd), gauss(r, nv, 1), s0, z0);
        }

        Tensor[] tensors(LightNetNaive.Dims d, DType dt) {
            Tensor[] t = new Tensor[s0 == null ? 3 : 5];
            t[0] = Tensor.of(dt, q, d.b(), d.t(), d.h(), d.dk());
            t[1] = Tensor.of(dt, k, d.b(), d.t(), d.h(), d.dk());
            t[2] = Tensor.of(dt, v, d.b(), d.t(), d.h(), d.dv());
            if (s0 != null) {
                t[3] = Tensor.of(dt, s0, d.b(), d.h(), d.dk(), d.dv());
                t[4] = Tensor.of(dt, z0, d.b(), d.h(), d.dk());
            }
            return t;
        }
    }

    static double[] gauss(SplittableRandom r, int n, double std) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            double u = r.nextDouble(), v = r.nextDouble();
            x[i] = std * Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
        }
        return x;
    }

    /** The composed chunked and recurrent forms, and the backend kernel behind {@link LightNet#apply}. */
    enum Form {
        CHUNKED,
        RECURRENT,
        KERNEL
    }

    static LightNet.Result run(Form f, Tensor[] t, boolean wantFinal) {
        LightNet.State init = t.length == 5 ? new LightNet.State(t[3], t[4]) : null;
        return switch (f) {
            case CHUNKED -> LightNet.chunked(t[0], t[1], t[2], init, wantFinal, CHUNK);
            case RECURRENT -> LightNet.recurrent(t[0], t[1], t[2], init, wantFinal);
            case KERNEL -> LightNet.apply(t[0], t[1], t[2], init, wantFinal);
        };
    }

    @Test
    void chunkedAndRecurrentEqualTheOracleInValueAndEveryGradient() {
        for (boolean withState : new boolean[] {false, true}) {
            Inputs in = Inputs.random(DIMS, withState ? 7 : 8, 3.0, withState);
            LightNetNaive.Forward ref = LightNetNaive.forward(DIMS, in.q, in.k, in.v, in.s0, in.z0);
            SplittableRandom r = new SplittableRandom(11);
            double[] g = gauss(r, ref.o().length, 1);
            double[] gs = gauss(r, ref.s().length, 1);
            double[] gz = gauss(r, ref.z().length, 1);
            LightNetNaive.Backward want = LightNetNaive.backward(DIMS, in.q, in.k, in.v, in.s0, in.z0, g, gs, gz);
            for (Form f : Form.values()) {
                try (Scope s = Scope.open()) {
                    Tensor[] t = in.tensors(DIMS, DType.F64);
                    for (Tensor x : t) {
                        x.requiresGrad(true);
                    }
                    LightNet.Result res = run(f, t, true);
                    String what = f + (withState ? " with initial state" : "");
                    assertThat(GradCheck.relErr(res.output().toDoubleArray(), ref.o()))
                            .as(what + " output")
                            .isLessThan(1e-12);
                    assertThat(GradCheck.relErr(res.finalState().s().toDoubleArray(), ref.s()))
                            .as(what + " final S")
                            .isLessThan(1e-12);
                    assertThat(GradCheck.relErr(res.finalState().z().toDoubleArray(), ref.z()))
                            .as(what + " final z")
                            .isLessThan(1e-12);
                    Tensor loss = res.output()
                            .mul(Tensor.of(g, res.output().shape()))
                            .sum()
                            .add(res.finalState()
                                    .s()
                                    .mul(Tensor.of(gs, res.finalState().s().shape()))
                                    .sum())
                            .add(res.finalState()
                                    .z()
                                    .mul(Tensor.of(gz, res.finalState().z().shape()))
                                    .sum());
                    loss.backward();
                    assertThat(GradCheck.relErr(t[0].grad().toDoubleArray(), want.dq()))
                            .as(what + " dq")
                            .isLessThan(1e-11);
                    assertThat(GradCheck.relErr(t[1].grad().toDoubleArray(), want.dk()))
                            .as(what + " dk")
                            .isLessThan(1e-11);
                    assertThat(GradCheck.relErr(t[2].grad().toDoubleArray(), want.dv()))
                            .as(what + " dv")
                            .isLessThan(1e-11);
                    if (withState) {
                        assertThat(GradCheck.relErr(t[3].grad().toDoubleArray(), want.ds0()))
                                .as(what + " dS0")
                                .isLessThan(1e-11);
                        assertThat(GradCheck.relErr(t[4].grad().toDoubleArray(), want.dz0()))
                                .as(what + " dz0")
                                .isLessThan(1e-11);
                    }
                }
            }
        }
    }

    @Test
    void kernelBackwardRecomputesAcrossSegments() {
        // T spans three checkpoint segments of the CPU kernel, the last one partial
        LightNetNaive.Dims d = new LightNetNaive.Dims(1, 2 * LightNetCpu.SEGMENT + 22, 2, 2, 3);
        Inputs in = Inputs.random(d, 17, 2.0, true);
        LightNetNaive.Forward ref = LightNetNaive.forward(d, in.q, in.k, in.v, in.s0, in.z0);
        SplittableRandom r = new SplittableRandom(19);
        double[] g = gauss(r, ref.o().length, 1), gs = gauss(r, ref.s().length, 1), gz = gauss(r, ref.z().length, 1);
        LightNetNaive.Backward want = LightNetNaive.backward(d, in.q, in.k, in.v, in.s0, in.z0, g, gs, gz);
        try (Scope s = Scope.open()) {
            Tensor[] t = in.tensors(d, DType.F64);
            for (Tensor x : t) {
                x.requiresGrad(true);
            }
            LightNet.Result res = run(Form.KERNEL, t, true);
            assertThat(GradCheck.relErr(res.output().toDoubleArray(), ref.o())).isLessThan(1e-12);
            res.output()
                    .mul(Tensor.of(g, res.output().shape()))
                    .sum()
                    .add(res.finalState()
                            .s()
                            .mul(Tensor.of(gs, res.finalState().s().shape()))
                            .sum())
                    .add(res.finalState()
                            .z()
                            .mul(Tensor.of(gz, res.finalState().z().shape()))
                            .sum())
                    .backward();
            double[][] wants = {want.dq(), want.dk(), want.dv(), want.ds0(), want.dz0()};
            for (int i = 0; i < 5; i++) {
                assertThat(GradCheck.relErr(t[i].grad().toDoubleArray(), wants[i]))
                        .as("gradient of input %d", i)
                        .isLessThan(1e-11);
            }
        }
    }

    @Test
    void kernelGradientsMatchFiniteDifferencesInF64() {
        LightNetNaive.Dims d = new LightNetNaive.Dims(2, 5, 1, 2, 3);
        try (Scope s = Scope.open()) {
            Tensor[] t = Inputs.random(d, 23, 2.0, true).tensors(d, DType.F64);
            GradCheck.check(
                    x -> {
                        LightNet.Result r = LightNet.apply(x[0], x[1], x[2], new LightNet.State(x[3], x[4]), true);
                        return Views.concat(
                                0,
                                Views.reshape(r.output(), -1),
                                Views.reshape(r.finalState().s(), -1),
                                Views.reshape(r.finalState().z(), -1));
                    },
                    1e-6,
                    1e-6,
                    t);
            // only the output used: the unused final state gets no gradient and breaks nothing
            GradCheck.check(x -> LightNet.apply(x[0], x[1], x[2], null, false).output(), t[0], t[1], t[2]);
        }
    }

    @Test
    void theOracleBackwardMatchesFiniteDifferencesOfTheOracleForward() {
        LightNetNaive.Dims d = new LightNetNaive.Dims(1, 5, 1, 2, 3);
        Inputs in = Inputs.random(d, 3, 2.0, true);
        SplittableRandom r = new SplittableRandom(5);
        LightNetNaive.Forward f0 = LightNetNaive.forward(d, in.q, in.k, in.v, in.s0, in.z0);
        double[] g = gauss(r, f0.o().length, 1), gs = gauss(r, f0.s().length, 1), gz = gauss(r, f0.z().length, 1);
        LightNetNaive.Backward b = LightNetNaive.backward(d, in.q, in.k, in.v, in.s0, in.z0, g, gs, gz);
        double[][] xs = {in.q, in.k, in.v, in.s0, in.z0};
        double[][] grads = {b.dq(), b.dk(), b.dv(), b.ds0(), b.dz0()};
        double eps = 1e-6;
        for (int a = 0; a < xs.length; a++) {
            for (int i = 0; i < xs[a].length; i++) {
                double orig = xs[a][i];
                xs[a][i] = orig + eps;
                double lp = dot(LightNetNaive.forward(d, in.q, in.k, in.v, in.s0, in.z0), g, gs, gz);
                xs[a][i] = orig - eps;
                double lm = dot(LightNetNaive.forward(d, in.q, in.k, in.v, in.s0, in.z0), g, gs, gz);
                xs[a][i] = orig;
                double numeric = (lp - lm) / (2 * eps);
                assertThat(Math.abs(numeric - grads[a][i]))
                        .as("input %d element %d", a, i)
                        .isLessThan(1e-7 * Math.max(1, Math.abs(numeric)));
            }
        }
    }

    private static double dot(LightNetNaive.Forward f, double[] g, double[] gs, double[] gz) {
        double acc = 0;
        for (int i = 0; i < g.length; i++) {
            acc += f.o()[i] * g[i];
        }
        for (int i = 0; i < gs.length; i++) {
            acc += f.s()[i] * gs[i];
        }
        for (int i = 0; i < gz.length; i++) {
            acc += f.z()[i] * gz[i];
        }
        return acc;
    }

    @Test
    void chunkedGradientsMatchFiniteDifferencesInF64() {
        LightNetNaive.Dims d = new LightNetNaive.Dims(1, 7, 2, 2, 3);
        try (Scope s = Scope.open()) {
            Tensor[] t = Inputs.random(d, 21, 2.0, true).tensors(d, DType.F64);
            GradCheck.check(
                    x -> {
                        LightNet.Result r = LightNet.chunked(x[0], x[1], x[2], new LightNet.State(x[3], x[4]), true, 3);
                        return Views.concat(
                                0,
                                Views.reshape(r.output(), -1),
                                Views.reshape(r.finalState().s(), -1),
                                Views.reshape(r.finalState().z(), -1));
                    },
                    1e-6,
                    1e-6,
                    t);
        }
    }

    @Test
    void f32FormsAgreeWithTheOracle() {
        Inputs in = Inputs.random(DIMS, 9, 3.0, true);
        LightNetNaive.Forward ref = LightNetNaive.forward(DIMS, in.q, in.k, in.v, in.s0, in.z0);
        for (Form f : Form.values()) {
            try (Scope s = Scope.open()) {
                LightNet.Result r = run(f, in.tensors(DIMS, DType.F32), true);
                assertThat(r.output().dtype()).isEqualTo(DType.F32);
                assertThat(GradCheck.relErr(r.output().toDoubleArray(), ref.o()))
                        .as(f + " output")
                        .isLessThan(1e-5);
                assertThat(GradCheck.relErr(r.finalState().s().toDoubleArray(), ref.s()))
                        .as(f + " S")
                        .isLessThan(1e-5);
            }
        }
    }

    @Test
    void hugeKeysStayFiniteAndExactInF32() {
        // keys of ±500: e^{k} overflows f32 (and f64 past 709), the normalised form must not
        LightNetNaive.Dims d = new LightNetNaive.Dims(1, 11, 1, 3, 2);
        Inputs in = Inputs.random(d, 4, 1.0, false);
        for (int i = 0; i < in.k.length; i++) {
            in.k[i] = (i % 3 == 0 ? 500 : -500) * Math.signum(in.k[i]) + in.k[i];
        }
        LightNetNaive.Forward ref = LightNetNaive.forward(d, in.q, in.k, in.v, null, null);
        for (Form f : Form.values()) {
            try (Scope s = Scope.open()) {
                Tensor[] t = in.tensors(d, DType.F32);
                for (Tensor x : t) {
                    x.requiresGrad(true);
                }
                LightNet.Result r = run(f, t, true);
                double[] o = r.output().toDoubleArray();
                assertThat(GradCheck.relErr(o, ref.o())).as(f + " output").isLessThan(1e-5);
                r.output().sum().add(r.finalState().z().sum()).backward();
                for (Tensor x : t) {
                    for (double gv : x.grad().toDoubleArray()) {
                        assertThat(Double.isFinite(gv))
                                .as(f + " finite gradient")
                                .isTrue();
                    }
                }
            }
        }
    }

    @Test
    void continuingFromTheFinalStateEqualsOneCall() {
        Inputs in = Inputs.random(DIMS, 12, 2.0, true);
        try (Scope s = Scope.open()) {
            Tensor[] t = in.tensors(DIMS, DType.F64);
            LightNet.Result whole = LightNet.chunked(t[0], t[1], t[2], new LightNet.State(t[3], t[4]), true, CHUNK);
            int cut = 6;
            LightNet.Result first = LightNet.chunked(
                    t[0].narrow(1, 0, cut),
                    t[1].narrow(1, 0, cut),
                    t[2].narrow(1, 0, cut),
                    new LightNet.State(t[3], t[4]),
                    true,
                    CHUNK);
            int rest = DIMS.t() - cut;
            LightNet.Result second = LightNet.recurrent(
                    t[0].narrow(1, cut, rest),
                    t[1].narrow(1, cut, rest),
                    t[2].narrow(1, cut, rest),
                    first.finalState(),
                    true);
            Tensor joined = Views.concat(1, first.output(), second.output());
            assertThat(GradCheck.relErr(joined.toDoubleArray(), whole.output().toDoubleArray()))
                    .isLessThan(1e-13);
            assertThat(GradCheck.relErr(
                            second.finalState().s().toDoubleArray(),
                            whole.finalState().s().toDoubleArray()))
                    .isLessThan(1e-13);
        }
    }

    @Test
    void globalFormIsQTimesTheCausalFinalStateAndOrderIndependent() {
        LightNetNaive.Dims d = new LightNetNaive.Dims(2, 12, 2, 3, 4); // e.g. a 3×4 grid, flattened row by row
        Inputs in = Inputs.random(d, 13, 2.0, false);
        try (Scope s = Scope.open()) {
            Tensor[] t = in.tensors(d, DType.F64);
            Tensor o = LightNet.global(t[0], t[1], t[2]);
            LightNet.Result causal = LightNet.chunked(t[0], t[1], t[2], null, true, 5);
            // the causal op's last output is the global output there
            assertThat(GradCheck.relErr(
                            o.narrow(1, d.t() - 1, 1).toDoubleArray(),
                            causal.output().narrow(1, d.t() - 1, 1).toDoubleArray()))
                    .isLessThan(1e-13);
            // every position reads the final state of the single scan
            Tensor viaState = Views.permute(
                    LinearAlgebra.matmul(
                            Views.permute(t[0], 0, 2, 1, 3), causal.finalState().s()),
                    0,
                    2,
                    1,
                    3);
            assertThat(GradCheck.relErr(o.toDoubleArray(), viaState.contiguous().toDoubleArray()))
                    .isLessThan(1e-13);
            // permuting positions permutes the output the same way
            int[] perm = {5, 0, 11, 3, 7, 1, 9, 2, 10, 4, 8, 6};
            Tensor idx = Tensor.ofInts(perm, perm.length);
            Tensor op = LightNet.global(t[0].indexSelect(1, idx), t[1].indexSelect(1, idx), t[2].indexSelect(1, idx));
            assertThat(GradCheck.relErr(
                            op.toDoubleArray(), o.indexSelect(1, idx).toDoubleArray()))
                    .isLessThan(1e-13);
            // and the causal final state of any flattening is the same
            LightNet.Result other = LightNet.recurrent(
                    t[0].indexSelect(1, idx), t[1].indexSelect(1, idx), t[2].indexSelect(1, idx), null, true);
            assertThat(GradCheck.relErr(
                            other.finalState().s().toDoubleArray(),
                            causal.finalState().s().toDoubleArray()))
                    .isLessThan(1e-13);
        }
    }

    @Test
    void globalGradientsMatchFiniteDifferences() {
        LightNetNaive.Dims d = new LightNetNaive.Dims(1, 6, 2, 2, 3);
        try (Scope s = Scope.open()) {
            Tensor[] t = Inputs.random(d, 31, 2.0, false).tensors(d, DType.F64);
            GradCheck.check(x -> LightNet.global(x[0], x[1], x[2]), t);
        }
    }

    @Test
    void badShapesNameTheArgument() {
        try (Scope s = Scope.open()) {
            Tensor q = Tensor.zeros(1, 4, 2, 3);
            Tensor v = Tensor.zeros(1, 4, 2, 5);
            assertThatThrownBy(() -> LightNet.chunked(q, Tensor.zeros(1, 4, 2, 4), v, null, false, 4))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("k ");
            assertThatThrownBy(() -> LightNet.chunked(q, q, Tensor.zeros(1, 3, 2, 5), null, false, 4))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("v ");
            assertThatThrownBy(() -> LightNet.recurrent(Tensor.zeros(4, 2, 3), q, v, null, false))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("q must be");
            assertThatThrownBy(() -> LightNet.chunked(q, q, v, null, false, 0))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("chunk");
            LightNet.State badS = new LightNet.State(Tensor.zeros(1, 2, 3, 4), Tensor.zeros(1, 2, 3));
            assertThatThrownBy(() -> LightNet.chunked(q, q, v, badS, false, 4))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("initial state s");
            LightNet.State badZ = new LightNet.State(Tensor.zeros(1, 2, 3, 5), Tensor.zeros(1, 2, 5));
            assertThatThrownBy(() -> LightNet.recurrent(q, q, v, badZ, false))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("initial state z");
            assertThatThrownBy(() -> LightNet.global(q, q, Tensor.zeros(2, 4, 2, 5)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("v ");
        }
    }
}
