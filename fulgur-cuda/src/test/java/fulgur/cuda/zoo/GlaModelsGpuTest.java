package fulgur.cuda.zoo;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.ints;
import static fulgur.cuda.BackendCheck.relErr;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.models.LanguageModel;
import fulgur.models.hgrn2.Hgrn2Config;
import fulgur.models.hgrn2.Hgrn2Model;
import fulgur.models.metala.MetalaConfig;
import fulgur.models.metala.MetalaModel;
import fulgur.nn.Parameter;
import fulgur.ops.gla.Gla;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Gated linear attention and the models on it (HGRN2, MetaLA) on the GPU in f32, where the CUDA {@code GlaKernels} take
 * their exact f32 path: the op's output, final state and gradients, and a model's loss and every parameter gradient,
 * against the CPU (the composed form with its fused intra-chunk kernel). bf16: {@code CudaGlaGpuTest},
 * {@code ZooBf16GpuTest}.
 */
@Tag("gpu")
class GlaModelsGpuTest {

    @Test
    void glaChunkedMatchesTheCpu() {
        gpu();
        try (Scope s = Scope.open("gla")) {
            Rng r = new Rng(5);
            int b = 2, t = 45, h = 3, dk = 8, dv = 12;
            Tensor q = r.normal(DType.F32, 0, 1, b, t, h, dk);
            Tensor k = r.normal(DType.F32, 0, 1, b, t, h, dk);
            Tensor v = r.normal(DType.F32, 0, 1, b, t, h, dv);
            Tensor g = fulgur.ops.Activations.logSigmoid(r.normal(DType.F32, 2, 2, b, t, h, dk))
                    .detach();
            Tensor s0 = r.normal(DType.F32, 0, 1, b, h, dk, dv);
            Tensor[] cpu = {q, k, v, g, s0};
            Tensor[] gpuIn = new Tensor[5];
            for (int i = 0; i < 5; i++) {
                gpuIn[i] = dev(cpu[i]).detach();
                cpu[i].requiresGrad(true);
                gpuIn[i].requiresGrad(true);
            }
            Tensor wo = r.normal(DType.F32, 0, 1, b, t, h, dv);
            Tensor ws = r.normal(DType.F32, 0, 1, b, h, dk, dv);
            Gla.Result rc = Gla.chunked(cpu[0], cpu[1], cpu[2], cpu[3], 0.5, cpu[4], true, 16);
            Gla.Result rg = Gla.chunked(gpuIn[0], gpuIn[1], gpuIn[2], gpuIn[3], 0.5, gpuIn[4], true, 16);
            assertThat(relErr(rg.output().toDoubleArray(), rc.output().toDoubleArray()))
                    .isLessThan(1e-5);
            assertThat(relErr(rg.finalState().toDoubleArray(), rc.finalState().toDoubleArray()))
                    .isLessThan(1e-5);
            rc.output().mul(wo).sum().add(rc.finalState().mul(ws).sum()).backward();
            rg.output()
                    .mul(dev(wo))
                    .sum()
                    .add(rg.finalState().mul(dev(ws)).sum())
                    .backward();
            String[] names = {"q", "k", "v", "g", "initial state"};
            for (int i = 0; i < 5; i++) {
                assertThat(relErr(gpuIn[i].grad().toDoubleArray(), cpu[i].grad().toDoubleArray()))
                        .as("d" + names[i])
                        .isLessThan(1e-4);
            }
        }
    }

    static void checkModel(String what, Supplier<LanguageModel> build) {
        gpu();
        try (Scope s = Scope.open(what)) {
            LanguageModel cm = build.get();
            LanguageModel gm = build.get();
            gm.module().to(GPU);
            Tensor ids = ints(11, DType.I64, cm.vocabSize(), 2, 37);
            Tensor tg = ints(12, DType.I64, cm.vocabSize(), 2 * 37);
            Tensor cl = cm.loss(ids, tg);
            cl.backward();
            Tensor gl = gm.loss(dev(ids), dev(tg));
            gl.backward();
            double le = Math.abs(gl.item() - cl.item()) / Math.abs(cl.item());
            System.out.printf("%s: loss cpu %.7f gpu %.7f (rel %.1e)%n", what, cl.item(), gl.item(), le);
            assertThat(le).isLessThan(1e-5);
            Map<String, Parameter> cp = cm.module().namedParameters();
            Map<String, Parameter> gp = gm.module().namedParameters();
            for (String name : cp.keySet()) {
                assertThat(relErr(
                                gp.get(name).grad().toDoubleArray(),
                                cp.get(name).grad().toDoubleArray()))
                        .as(what + " " + name)
                        .isLessThan(1e-4);
            }
            // decoding on the GPU: prefill then single tokens through the cache
            try (var ng = GradMode.noGrad();
                    var cache = gm.newCache()) {
                float[] full = gm.forward(dev(ids)).toFloatArray();
                Tensor first = gm.forward(dev(ids.narrow(1, 0, 30)), cache);
                assertThat(first.size(1)).isEqualTo(30);
                for (int i = 30; i < 37; i++) {
                    float[] step = gm.forward(dev(ids.narrow(1, i, 1)), cache).toFloatArray();
                    int vocab = cm.vocabSize();
                    for (int row = 0; row < 2; row++) {
                        double[] got = new double[vocab];
                        double[] want = new double[vocab];
                        for (int x = 0; x < vocab; x++) {
                            got[x] = step[row * vocab + x];
                            want[x] = full[(row * 37 + i) * vocab + x];
                        }
                        assertThat(relErr(got, want))
                                .as(what + " decode position " + i)
                                .isLessThan(1e-5);
                    }
                }
            }
        }
    }

    @Test
    void hgrn2StepMatchesTheCpu() {
        checkModel("hgrn2", () -> new Hgrn2Model(Hgrn2Config.small(97, 64, 2, 4), 42));
    }

    @Test
    void metalaStepMatchesTheCpu() {
        checkModel("metala", () -> new MetalaModel(MetalaConfig.small(97, 64, 2, 4), 42));
    }
}
