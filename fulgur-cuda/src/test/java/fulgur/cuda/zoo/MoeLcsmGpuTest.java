package fulgur.cuda.zoo;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.ints;
import static fulgur.cuda.BackendCheck.randn;
import static fulgur.cuda.BackendCheck.relErr;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.layers.MoeFeedForward;
import fulgur.models.lcsm.LcsmConfig;
import fulgur.models.lcsm.LcsmModel;
import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The MoE feed-forward and the LCSM model on the GPU in f32 against the CPU: output or loss, and every parameter
 * gradient. In f32 the MoE layer is composed on CUDA (its kernels take bf16: {@code CudaMoeGpuTest}); the LCSM scan
 * takes the CUDA kernel.
 */
@Tag("gpu")
class MoeLcsmGpuTest {

    static double worstGrad(Module cpu, Module gpu) {
        Map<String, Parameter> cp = cpu.namedParameters();
        Map<String, Parameter> gp = gpu.namedParameters();
        double worst = 0;
        for (String name : cp.keySet()) {
            Tensor cg = cp.get(name).grad();
            Tensor gg = gp.get(name).grad();
            assertThat(gg == null).as(name).isEqualTo(cg == null);
            if (cg != null) {
                worst = Math.max(worst, relErr(gg.toDoubleArray(), cg.toDoubleArray()));
            }
        }
        return worst;
    }

    @Test
    void moeForwardAndBackwardMatchTheCpu() {
        gpu();
        try (Scope s = Scope.open("moe")) {
            MoeFeedForward cm = new MoeFeedForward(32, 48, MoeFeedForward.Routing.minimax(), new Rng(5), DType.F32);
            MoeFeedForward gm = new MoeFeedForward(32, 48, MoeFeedForward.Routing.minimax(), new Rng(5), DType.F32);
            gm.to(GPU);
            Tensor x = randn(1, DType.F32, 3, 41, 32);
            Tensor w = randn(2, DType.F32, 3, 41, 32);
            Tensor co = cm.forward(x);
            Tensor go = gm.forward(dev(x));
            assertThat(relErr(go.toDoubleArray(), co.toDoubleArray())).isLessThan(1e-5);
            assertThat(gm.tokensPerExpert()).containsExactly(cm.tokensPerExpert());
            co.mul(w).sum().add(cm.auxLoss()).backward();
            go.mul(dev(w)).sum().add(gm.auxLoss()).backward();
            assertThat(worstGrad(cm, gm)).isLessThan(1e-4);
        }
    }

    @Test
    void lcsmLossGradientsAndDecodingMatchTheCpu() {
        gpu();
        for (LcsmConfig.Preset p : LcsmConfig.Preset.values()) {
            try (Scope s = Scope.open("lcsm")) {
                LcsmConfig c = LcsmConfig.small(64, 32, 2, 4, p);
                LcsmModel cm = new LcsmModel(c, 9);
                LcsmModel gm = new LcsmModel(c, 9);
                gm.to(GPU);
                Tensor ids = ints(3, DType.I64, 64, 2, 23);
                Tensor tg = ints(4, DType.I64, 64, 46);
                Tensor cl = cm.loss(ids, tg);
                Tensor gl = gm.loss(dev(ids), dev(tg));
                assertThat(Math.abs(gl.item() - cl.item()) / Math.abs(cl.item()))
                        .as(p.name())
                        .isLessThan(1e-5);
                cl.backward();
                gl.backward();
                assertThat(worstGrad(cm, gm)).as(p.name()).isLessThan(1e-3);
                try (var g = GradMode.noGrad();
                        var cache = gm.newCache()) {
                    double[] full = gm.forward(dev(ids)).toDoubleArray();
                    gm.forward(dev(ids.narrow(1, 0, 20)), cache);
                    Tensor last = gm.forward(dev(ids.narrow(1, 20, 3)), cache);
                    double[] want = gm.forward(dev(ids)).narrow(1, 20, 3).toDoubleArray();
                    assertThat(full.length).isEqualTo(2 * 23 * 64);
                    assertThat(relErr(last.toDoubleArray(), want)).as(p.name()).isLessThan(1e-5);
                }
            }
        }
    }
}
