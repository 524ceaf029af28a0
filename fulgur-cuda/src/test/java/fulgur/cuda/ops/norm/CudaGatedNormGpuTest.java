package fulgur.cuda.ops.norm;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.GatedNormKernels;
import fulgur.ops.Norms;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Norms#rmsNormGated} on CUDA through the registry ({@link CudaGatedNorm}) against the composed form on CUDA and
 * the CPU: output and the gradients of x, the gain and the gate, for each gate activation, with and without a gain.
 */
@Tag("gpu")
class CudaGatedNormGpuTest {

    @ParameterizedTest(name = "{0} [{1}, {2}] {3} gain={4}")
    @CsvSource({
        "BF16, 134, 1024, SILU, true",
        "BF16, 67, 96, SIGMOID, true",
        "F32, 300, 128, NONE, false",
        "F32, 45, 1000, SILU, true",
    })
    void registryMatchesComposedAndCpu(DType dtype, int rows, int cols, GatedNormKernels.Gate act, boolean gain) {
        BackendCheck.gpu();
        long seed = 29L * rows + cols;
        try (Scope s = Scope.open("gated-norm")) {
            Tensor x = ZooCheck.signed(seed, dtype, rows, cols).to(DType.F32),
                    z = ZooCheck.uniform(seed + 1, dtype, -4, 4, rows, cols).to(DType.F32);
            Tensor w = gain ? ZooCheck.uniform(seed + 2, dtype, 0.5, 1.5, cols).to(DType.F32) : null;
            Function<Tensor[], Tensor[]> op = a -> new Tensor[] {Norms.rmsNormGated(a[0], a[1], 1e-6, a[2], act)};
            FamilyCheck.Result cpu = FamilyCheck.run(Device.CPU, null, op, seed, x, w, z);
            FamilyCheck.Result kernel;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, GatedNormKernels.class)) {
                kernel = FamilyCheck.run(GPU, new DType[] {dtype, dtype, dtype}, op, seed, x, w, z);
                assertThat(calls.count("GatedNormKernels.forward")).isEqualTo(1);
                assertThat(calls.count("GatedNormKernels.backward")).isEqualTo(1);
            }
            FamilyCheck.Result composed = FamilyCheck.composed(GatedNormKernels.class, GPU, null, op, seed, x, w, z);
            String[] ins = gain ? new String[] {"x", "gain", "z"} : new String[] {"x", "z"};
            double tol = dtype == DType.F32 ? 1e-5 : 1e-2;
            FamilyCheck.assertClose(
                    "gated rmsnorm kernel vs cpu " + dtype,
                    kernel,
                    cpu,
                    tol,
                    dtype == DType.F32 ? 1e-4 : 1e-2,
                    new String[] {"y"},
                    ins);
            FamilyCheck.assertClose(
                    "gated rmsnorm composed on cuda (f32) vs cpu", composed, cpu, 1e-5, 1e-4, new String[] {"y"}, ins);
        }
    }

    /**
     * A gate that is a column slice of a wider tensor (TNL's u, the last quarter of its fused projection) is read where
     * it lies, with no copy: the same output and gradients, bit for bit, as the same gate made contiguous first.
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"BF16, NONE", "F32, SIGMOID"})
    void gateSlicedFromAWiderTensorIsReadInPlace(DType dtype, GatedNormKernels.Gate act) {
        BackendCheck.gpu();
        int b = 3, t = 37, d = 256;
        long seed = 71;
        try (Scope s = Scope.open("gated-norm-sliced")) {
            Tensor x = ZooCheck.signed(seed, dtype, b, t, d).to(DType.F32),
                    wide = ZooCheck.uniform(seed + 1, dtype, -4, 4, b, t, 4 * d).to(DType.F32);
            Function<Boolean, Function<Tensor[], Tensor[]>> op = copy -> a -> {
                Tensor z = Views.narrow(a[1], -1, 3 * d, d);
                return new Tensor[] {Norms.rmsNormGated(a[0], null, 1e-6, copy ? z.contiguous() : z, act)};
            };
            DType[] types = {dtype, dtype};
            FamilyCheck.Result inPlace, copied;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, GatedNormKernels.class)) {
                inPlace = FamilyCheck.run(GPU, types, op.apply(false), seed, x, wide);
                copied = FamilyCheck.run(GPU, types, op.apply(true), seed, x, wide);
                assertThat(calls.count("GatedNormKernels.forward")).isEqualTo(2);
            }
            assertThat(inPlace.outputs().get(0))
                    .containsExactly(copied.outputs().get(0));
            assertThat(inPlace.grads().get(0)).containsExactly(copied.grads().get(0));
            assertThat(inPlace.grads().get(1)).containsExactly(copied.grads().get(1));
        }
    }
}
