package fulgur.cuda.zoo;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.ints;
import static fulgur.cuda.BackendCheck.relErr;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.models.DecodeCache;
import fulgur.models.LanguageModel;
import fulgur.models.llama.LlamaConfig;
import fulgur.models.llama.LlamaModel;
import fulgur.models.minimax.MiniMaxConfig;
import fulgur.models.minimax.MiniMaxModel;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Llama, Linear-Llama and the MiniMax hybrid on both backends (same seed, moved with {@code Module.to}): loss and every
 * parameter gradient in f32, and decoding through the cache on the GPU against its own parallel forward.
 */
@Tag("gpu")
class AttnModelsGpuTest {

    static Supplier<LanguageModel> model(String name) {
        return switch (name) {
            case "llama" -> () -> new LlamaModel(LlamaConfig.small("llama", 97, 64, 2, 4), 42);
            case "linear-llama" -> () -> new LlamaModel(LlamaConfig.small("linear_llama", 97, 64, 2, 4), 42);
            default -> () -> new MiniMaxModel(MiniMaxConfig.small(97, 64, 2, 4), 42);
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "linear-llama", "minimax"})
    void stepAndDecodeMatch(String name) {
        gpu();
        try (Scope s = Scope.open(name)) {
            LanguageModel cm = model(name).get();
            LanguageModel gm = model(name).get();
            gm.module().to(GPU);
            Tensor ids = ints(301, DType.I64, 97, 2, 41);
            Tensor tg = ints(302, DType.I64, 97, 2 * 41);
            Tensor cl = cm.loss(ids, tg);
            cl.backward();
            Tensor gl = gm.loss(dev(ids), dev(tg));
            gl.backward();
            double le = Math.abs(gl.item() - cl.item()) / Math.abs(cl.item());
            System.out.printf("%s: loss cpu %.7f gpu %.7f (rel %.1e)%n", name, cl.item(), gl.item(), le);
            assertThat(le).isLessThan(1e-5);
            Map<String, Parameter> cp = cm.module().namedParameters();
            Map<String, Parameter> gp = gm.module().namedParameters();
            double worst = 0;
            for (String n : cp.keySet()) {
                if (cp.get(n).grad() != null) {
                    worst = Math.max(
                            worst,
                            relErr(
                                    gp.get(n).grad().toDoubleArray(),
                                    cp.get(n).grad().toDoubleArray()));
                }
            }
            System.out.printf("%s: worst parameter-gradient rel err %.2e%n", name, worst);
            assertThat(worst).isLessThan(1e-4);
            try (var g = GradMode.noGrad();
                    DecodeCache cache = gm.newCache()) {
                double[] full =
                        gm.forward(dev(ids.narrow(1, 0, 12).contiguous())).toDoubleArray();
                int v = 97;
                double[] got = new double[full.length];
                for (int i = 0; i < 12; i++) {
                    double[] step = gm.forward(dev(ids.narrow(1, i, 1).contiguous()), cache)
                            .toDoubleArray();
                    for (int b = 0; b < 2; b++) {
                        System.arraycopy(step, b * v, got, (b * 12 + i) * v, v);
                    }
                }
                double de = relErr(got, full);
                System.out.printf("%s: GPU decode vs forward rel err %.2e%n", name, de);
                assertThat(de).isLessThan(1e-5);
            }
        }
    }
}
