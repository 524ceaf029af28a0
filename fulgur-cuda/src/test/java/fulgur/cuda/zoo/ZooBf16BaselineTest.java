package fulgur.cuda.zoo;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.train.MixedPrecision;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link ZooBf16GpuTest#BASELINE} is what bf16 costs each architecture without a CUDA kernel: its bf16 mixed-precision
 * step on the CPU against the same model in f64 (the GPU test's model, weights and batch). The CPU's errors must lie
 * between half of each figure and 10% above it, so the GPU test's tolerances follow the models: a model change that
 * costs bf16 precision (as MetaLA's self-augmentation once did, 0.14 over all gradients) fails here first. No GPU.
 */
class ZooBf16BaselineTest {

    @ParameterizedTest
    @MethodSource("fulgur.cuda.zoo.ZooBf16GpuTest#names")
    void theCpuBf16StepHasTheTabulatedError(String name) {
        Architecture a = Architectures.byName(name);
        String config = a.smallConfig(ZooBf16GpuTest.VOCAB, 128, 2, 2);
        Map<String, double[]> exact = new TreeMap<>(), bf16 = new TreeMap<>();
        try (Scope s = Scope.open(name)) {
            try (LanguageModel m = ZooBf16GpuTest.build(a, config)) {
                m.module().to(DType.F64);
                ZooBf16GpuTest.step(m, Device.CPU, exact);
            }
            try (LanguageModel m = ZooBf16GpuTest.build(a, config);
                    MixedPrecision mp = MixedPrecision.bf16(m.module())) {
                ZooBf16GpuTest.step(m, Device.CPU, bf16);
            }
        }
        ZooBf16GpuTest.GradErr e = ZooBf16GpuTest.gradErr(bf16, exact), want = ZooBf16GpuTest.BASELINE.get(name);
        System.out.printf(
                "%s: the CPU's bf16 step against f64: gradients rel %.2e overall, worst %.2e (%s)%n",
                name, e.all(), e.worst(), e.worstName());
        assertThat(want).as(name + " has a baseline").isNotNull();
        assertThat(e.all()).as(name + " all gradients").isBetween(want.all() / 2, 1.1 * want.all());
        assertThat(e.worst())
                .as(name + " worst gradient (" + e.worstName() + ")")
                .isBetween(want.worst() / 2, 1.1 * want.worst());
    }
}
