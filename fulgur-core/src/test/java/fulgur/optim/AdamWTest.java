package fulgur.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AdamWTest {

    static final class Two extends Module {
        final Parameter w;
        final Parameter b;

        Two(Tensor w0, Tensor b0) {
            w = param("w", w0, true);
            b = param("b", b0, false);
        }
    }

    /** Reference AdamW in double precision, written from the paper's update. */
    static double[] reference(double[] p, double[][] grads, double lr, double b1, double b2, double eps, double wd) {
        double[] m = new double[p.length];
        double[] v = new double[p.length];
        double[] x = p.clone();
        for (int t = 1; t <= grads.length; t++) {
            for (int i = 0; i < x.length; i++) {
                double g = grads[t - 1][i];
                x[i] -= lr * wd * x[i];
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                double mh = m[i] / (1 - Math.pow(b1, t));
                double vh = v[i] / (1 - Math.pow(b2, t));
                x[i] -= lr * mh / (Math.sqrt(vh) + eps);
            }
        }
        return x;
    }

    @Test
    void matchesReferenceUpdateWithDecayOnlyOnMatrices() {
        Rng rng = new Rng(3);
        int n = 37; // not a multiple of the vector width
        Tensor w0 = rng.normal(0, 1, 1, n);
        Tensor b0 = rng.normal(0, 1, n);
        double[] wStart = w0.toDoubleArray();
        double[] bStart = b0.toDoubleArray();
        Two m = new Two(w0, b0);
        AdamW opt = new AdamW(ParamGroup.decayAndNoDecay(m, 0.1), 1e-2, 0.9, 0.95, 1e-8);
        double[][] gw = new double[5][];
        double[][] gb = new double[5][];
        for (int s = 0; s < 5; s++) {
            Tensor g1 = rng.normal(0, 1, 1, n);
            Tensor g2 = rng.normal(0, 1, n);
            gw[s] = g1.toDoubleArray();
            gb[s] = g2.toDoubleArray();
            m.w.value().setGrad(g1);
            m.b.value().setGrad(g2);
            opt.step();
        }
        double[] expectW = reference(wStart, gw, 1e-2, 0.9, 0.95, 1e-8, 0.1);
        double[] expectB = reference(bStart, gb, 1e-2, 0.9, 0.95, 1e-8, 0.0);
        double[] gotW = m.w.value().toDoubleArray();
        double[] gotB = m.b.value().toDoubleArray();
        for (int i = 0; i < n; i++) {
            assertThat(gotW[i]).isCloseTo(expectW[i], offset(1e-5 * Math.max(1, Math.abs(expectW[i]))));
            assertThat(gotB[i]).isCloseTo(expectB[i], offset(1e-5 * Math.max(1, Math.abs(expectB[i]))));
        }
        assertThat(opt.stepCount()).isEqualTo(5);
    }

    @Test
    void f64ParametersUseTheSameUpdate() {
        Tensor w0 = Tensor.of(new double[] {1.0, -2.0, 0.5}, 1, 3);
        Two m = new Two(w0, Tensor.of(DType.F64, new double[] {0.0}, 1));
        AdamW opt = new AdamW(ParamGroup.all(m, 0.01), 0.1);
        m.w.value().setGrad(Tensor.of(new double[] {0.3, 0.2, -0.1}, 1, 3));
        opt.step();
        double[] expect = reference(
                new double[] {1.0, -2.0, 0.5}, new double[][] {{0.3, 0.2, -0.1}}, 0.1, 0.9, 0.999, 1e-8, 0.01);
        assertThat(m.w.value().toDoubleArray()).containsExactly(expect, offset(1e-12));
    }

    @Test
    void stateRoundTripContinuesIdentically() {
        Rng rng = new Rng(5);
        Tensor w0 = rng.normal(0, 1, 4, 4);
        Two a = new Two(w0.copy().detach(), Tensor.zeros(4));
        Two b = new Two(w0.copy().detach(), Tensor.zeros(4));
        AdamW oa = new AdamW(ParamGroup.all(a, 0.05), 0.01);
        AdamW ob = new AdamW(ParamGroup.all(b, 0.05), 0.01);
        Tensor g = rng.normal(0, 1, 4, 4);
        a.w.value().setGrad(g);
        oa.step();
        b.loadStateDict(a.stateDict(), true);
        ob.loadState(oa.state(), oa.stepCount());
        a.w.value().setGrad(g);
        b.w.value().setGrad(g);
        oa.step();
        ob.step();
        assertThat(b.w.value().toFloatArray()).containsExactly(a.w.value().toFloatArray());
    }

    @Test
    void clipScalesToMaxNorm() {
        Two m = new Two(Tensor.zeros(1, 2), Tensor.zeros(2));
        m.w.value().setGrad(Tensor.of(new float[] {3, 4}, 1, 2));
        m.b.value().setGrad(Tensor.of(new float[] {0, 0}, 2));
        double norm = GradClip.clipGlobalNorm(m.parameters(), 1.0);
        assertThat(norm).isCloseTo(5.0, offset(1e-6));
        assertThat(GradClip.globalNorm(m.parameters())).isCloseTo(1.0, offset(1e-5));
    }

    @Test
    void clippingOnTheDeviceEqualsTheHostVersion() {
        for (double max : new double[] {0.7, 50.0, 0.0}) {
            Rng rng = new Rng(4);
            Two a = new Two(Tensor.zeros(3, 5), Tensor.zeros(5));
            Two b = new Two(Tensor.zeros(3, 5), Tensor.zeros(5));
            Tensor gw = rng.normal(0, 1, 3, 5);
            Tensor gb = rng.normal(0, 1, 5);
            a.w.value().setGrad(gw.copy().detach());
            a.b.value().setGrad(gb.copy().detach());
            b.w.value().setGrad(gw.copy().detach());
            b.b.value().setGrad(gb.copy().detach());
            double host = max > 0 ? GradClip.clipGlobalNorm(a.parameters(), max) : GradClip.globalNorm(a.parameters());
            Tensor dev = GradClip.clipGlobalNormOnDevice(b.parameters(), max);
            assertThat(dev.dtype()).isEqualTo(DType.F64);
            assertThat(dev.item()).isEqualTo(host);
            assertThat(b.w.grad().toDoubleArray()).containsExactly(a.w.grad().toDoubleArray(), offset(1e-7));
            assertThat(b.b.grad().toDoubleArray()).containsExactly(a.b.grad().toDoubleArray(), offset(1e-7));
            if (max == 0.7) {
                assertThat(GradClip.globalNorm(b.parameters())).isCloseTo(0.7, offset(1e-6));
            }
        }
    }

    @Test
    void advanceThenUpdateIsAStepAndReadsTheLearningRateOfTheAdvance() {
        Two a = new Two(Tensor.of(new float[] {1, -2}, 1, 2), Tensor.zeros(2));
        Two b = new Two(Tensor.of(new float[] {1, -2}, 1, 2), Tensor.zeros(2));
        AdamW oa = new AdamW(ParamGroup.all(a, 0.1), 0.1);
        AdamW ob = new AdamW(ParamGroup.all(b, 0.1), 0.1);
        assertThatThrownBy(ob::update).hasMessageContaining("advance() first");
        for (int s = 1; s <= 3; s++) {
            Tensor g = Tensor.of(new float[] {0.5f * s, -1f}, 1, 2);
            a.w.value().setGrad(g.copy().detach());
            b.w.value().setGrad(g.copy().detach());
            oa.setLr(0.1 / s);
            oa.step();
            ob.setLr(0.1 / s);
            ob.advance();
            ob.setLr(99); // a change after advance() does not reach this step's update
            ob.update();
            assertThat(ob.stepCount()).isEqualTo(s);
            assertThat(b.w.value().toFloatArray()).containsExactly(a.w.value().toFloatArray());
        }
    }

    /** The mixed-precision masters' update writes the model's bf16 weights as a copy after it would. */
    @Test
    void anUpdateWritesTheCopiesItIsGivenAsACopyAfterwardWould() {
        Rng rng = new Rng(9);
        Tensor w0 = rng.normal(0, 1, 5, 7);
        Two a = new Two(w0.copy(), Tensor.zeros(7));
        Two b = new Two(w0.copy(), Tensor.zeros(7));
        AdamW oa = new AdamW(ParamGroup.all(a, 0.1), 0.05);
        AdamW ob = new AdamW(ParamGroup.all(b, 0.1), 0.05);
        Tensor copy = Tensor.zeros(DType.BF16, Device.CPU, 5, 7);
        for (int s = 1; s <= 3; s++) {
            Tensor g = rng.normal(0, 1, 5, 7);
            a.w.value().setGrad(g.copy().detach());
            b.w.value().setGrad(g.copy().detach());
            oa.step();
            ob.advance();
            ob.update(Map.of(b.w, copy));
            assertThat(b.w.value().toFloatArray()).containsExactly(a.w.value().toFloatArray());
            assertThat(copy.toFloatArray())
                    .containsExactly(a.w.value().to(DType.BF16).toFloatArray());
        }
    }

    @Test
    void sgdMomentumMatchesReference() {
        Two m = new Two(Tensor.of(new float[] {1, 2}, 1, 2), Tensor.zeros(2));
        Sgd opt = new Sgd(List.of(new ParamGroup(Map.of("w", m.w), 0, 1)), 0.1, 0.9, false);
        double[] x = {1, 2};
        double[] buf = new double[2];
        double[][] gs = {{0.5, -1}, {0.25, 0.5}, {1, 1}};
        for (int s = 0; s < gs.length; s++) {
            m.w.value().setGrad(Tensor.of(new float[] {(float) gs[s][0], (float) gs[s][1]}, 1, 2));
            opt.step();
            for (int i = 0; i < 2; i++) {
                buf[i] = s == 0 ? gs[s][i] : 0.9 * buf[i] + gs[s][i];
                x[i] -= 0.1 * buf[i];
            }
        }
        assertThat(m.w.value().toDoubleArray()).containsExactly(x, offset(1e-6));
    }

    @Test
    void badArgumentsAreRejected() {
        Two m = new Two(Tensor.zeros(1, 2), Tensor.zeros(2));
        assertThatThrownBy(() -> new AdamW(ParamGroup.all(m, 0), 0.1, 1.0, 0.9, 1e-8))
                .hasMessageContaining("beta1");
        assertThatThrownBy(() -> new AdamW(ParamGroup.all(m, 0), -1)).hasMessageContaining("learning rate");
        assertThatThrownBy(() -> GradClip.clipGlobalNorm(m.parameters(), 0)).hasMessageContaining("maxNorm");
        assertThatThrownBy(() -> m.loadStateDict(Map.of("w", Tensor.zeros(3)), true))
                .hasMessageContaining("mis-shaped: w")
                .hasMessageContaining("missing: b");
    }
}
