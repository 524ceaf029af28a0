package fulgur.cuda;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.ints;
import static fulgur.cuda.BackendCheck.relErr;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Parameter;
import fulgur.optim.AdamW;
import fulgur.optim.ParamGroup;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.MixedPrecision;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * One TransNormerLLM training step on both backends: the model built with the same seed on the CPU and moved to the
 * GPU ({@code Module.to}); loss and every parameter gradient (f32 on both, relative norm), then the parameters after
 * an AdamW step. Also a bf16 mixed-precision step on the GPU (tensor-core lightning kernels) against the f32 CPU step.
 */
@Tag("gpu")
class TnlStepGpuTest {

    record Step(double loss, Map<String, Tensor> grads) {}

    static Tensor[] batch(int vocab, int b, int t) {
        Tensor ids = ints(301, DType.I64, vocab, b, t);
        long[] tg = ints(302, DType.I64, vocab, b * t).toLongArray();
        tg[3] = -100;
        tg[b * t - 1] = -100;
        return new Tensor[] {ids, Tensor.ofLongs(tg, b * t)};
    }

    static void checkStep(String what, TnlConfig cfg, double gradTol) {
        gpu();
        try (Scope s = Scope.open(what)) {
            TnlModel cm = new TnlModel(cfg, 42);
            TnlModel gm = new TnlModel(cfg, 42);
            gm.to(GPU);
            assertThat(gm.device()).isEqualTo(GPU);
            Tensor[] bt = batch(cfg.vocabSize(), 2, 37);
            Tensor cl = cm.loss(bt[0], bt[1]);
            cl.backward();
            Tensor gl = gm.loss(dev(bt[0]), dev(bt[1]));
            gl.backward();
            double le = Math.abs(gl.item() - cl.item()) / Math.abs(cl.item());
            System.out.printf("%s: loss cpu %.7f gpu %.7f (rel %.1e)%n", what, cl.item(), gl.item(), le);
            assertThat(le).as(what + " loss").isLessThan(1e-5);
            Map<String, Parameter> cp = cm.namedParameters();
            Map<String, Parameter> gp = gm.namedParameters();
            double worst = 0;
            String worstName = "";
            for (String name : cp.keySet()) {
                double e = relErr(
                        gp.get(name).grad().toDoubleArray(), cp.get(name).grad().toDoubleArray());
                if (e > worst) {
                    worst = e;
                    worstName = name;
                }
            }
            System.out.printf(
                    "%s: %d parameter gradients, worst rel err %.2e (%s)%n", what, cp.size(), worst, worstName);
            assertThat(worst).as(what + " worst gradient (" + worstName + ")").isLessThan(gradTol);
            AdamW co = new AdamW(ParamGroup.decayAndNoDecay(cm, 0.1), 1e-3);
            AdamW go = new AdamW(ParamGroup.decayAndNoDecay(gm, 0.1), 1e-3);
            co.step();
            go.step();
            // AdamW's first step moves each weight by about ±lr (the sign of its gradient): the few gradients that are
            // ~0 and differ in sign between the backends move apart by 2·lr, hence the looser tolerance.
            double worstParam = 0;
            for (String name : cp.keySet()) {
                worstParam = Math.max(
                        worstParam,
                        relErr(
                                gp.get(name).value().toDoubleArray(),
                                cp.get(name).value().toDoubleArray()));
            }
            System.out.printf("%s: parameters after one AdamW step, worst rel err %.2e%n", what, worstParam);
            assertThat(worstParam).as(what + " parameters after AdamW").isLessThan(5e-3);
            co.release();
            go.release();
            cm.close();
            gm.close();
        }
    }

    @Test
    void f32StepMatchesTheCpu() {
        checkStep("tnl f32", TnlConfig.small(97, 64, 2, 2), 1e-4);
    }

    @Test
    void f32StepWithLrpeMatchesTheCpu() {
        checkStep("tnl f32 lrpe", TnlConfig.small(97, 64, 2, 2).withLrpe(List.of(1, 1)), 1e-4);
    }

    @Test
    void bf16MixedPrecisionStep() {
        gpu();
        try (Scope s = Scope.open("bf16")) {
            TnlConfig cfg = TnlConfig.small(97, 128, 2, 2); // head dim 64: tensor-core lightning
            TnlModel cm = new TnlModel(cfg, 7);
            TnlModel gm = new TnlModel(cfg, 7);
            gm.to(GPU);
            MixedPrecision mp = MixedPrecision.bf16(gm);
            assertThat(gm.namedParameters().values().iterator().next().value().dtype())
                    .isEqualTo(DType.BF16);
            Tensor[] bt = batch(cfg.vocabSize(), 2, 96);
            Tensor cl = cm.loss(bt[0], bt[1]);
            cl.backward();
            Tensor gl = gm.loss(dev(bt[0]), dev(bt[1]));
            gl.backward();
            double le = Math.abs(gl.item() - cl.item()) / Math.abs(cl.item());
            System.out.printf("tnl bf16: loss cpu f32 %.6f gpu bf16 %.6f (rel %.1e)%n", cl.item(), gl.item(), le);
            assertThat(le).isLessThan(2e-2);
            double worst = 0;
            for (var e : cm.namedParameters().entrySet()) {
                Tensor g = gm.namedParameters().get(e.getKey()).grad();
                assertThat(g.dtype()).isEqualTo(DType.F32);
                worst = Math.max(
                        worst, relErr(g.toDoubleArray(), e.getValue().grad().toDoubleArray()));
            }
            System.out.printf("tnl bf16: worst parameter-gradient rel err vs f32 CPU %.2e%n", worst);
            assertThat(worst).isLessThan(0.1);
            AdamW opt = new AdamW(mp.masterGroups(ParamGroup.decayAndNoDecay(gm, 0.1)), 1e-2);
            double first = gl.item();
            double last = first;
            for (int i = 0; i < 5; i++) {
                mp.step(opt);
                mp.zeroGrad();
                try (Scope step = Scope.open("step")) {
                    Tensor l = gm.loss(dev(bt[0]), dev(bt[1]));
                    l.backward();
                    last = l.item();
                }
            }
            System.out.printf("tnl bf16: loss %.4f -> %.4f after 5 AdamW steps on one batch%n", first, last);
            assertThat(last).isLessThan(first);
            opt.release();
            mp.close();
        }
    }
}
