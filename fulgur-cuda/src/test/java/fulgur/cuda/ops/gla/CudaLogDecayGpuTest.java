package fulgur.cuda.ops.gla;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.gla.LogDecay;
import fulgur.ops.gla.LogDecayKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link LogDecay#gate} on CUDA through the registry ({@link CudaLogDecay}) against the composed form on CUDA and the
 * CPU: the log decay (f32), the key, and the gradients of the gate and of the lower bound (summed over rows).
 */
@Tag("gpu")
class CudaLogDecayGpuTest {

    @ParameterizedTest(name = "{0} gate [{1}, {2}] lower bound={3} tau={4}")
    @CsvSource({
        "BF16, 134, 96, true, 1",
        "F32, 67, 64, false, 16",
        "BF16, 3000, 40, false, 16",
        "F32, 500, 1024, true, 1",
    })
    void registryMatchesComposedAndCpu(DType dtype, int rows, int d, boolean lowerBound, double tau) {
        BackendCheck.gpu();
        long seed = 23L * rows + d;
        try (Scope s = Scope.open("log-decay")) {
            Tensor f = ZooCheck.uniform(seed, dtype, -6, 8, rows, d).to(DType.F32);
            Tensor beta = lowerBound ? ZooCheck.uniform(seed + 1, DType.F32, 0.0, 0.98, d) : null;
            Function<Tensor[], Tensor[]> op = x -> LogDecay.gate(x[0], x[1], tau);
            FamilyCheck.Result cpu = FamilyCheck.run(Device.CPU, null, op, seed, f, beta);
            FamilyCheck.Result kernel;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, LogDecayKernels.class)) {
                kernel = FamilyCheck.run(GPU, new DType[] {dtype, DType.F32}, op, seed, f, beta);
                assertThat(calls.count("LogDecayKernels.forward")).isEqualTo(1);
                assertThat(calls.count("LogDecayKernels.backward")).isEqualTo(2);
            }
            FamilyCheck.Result composed = FamilyCheck.composed(LogDecayKernels.class, GPU, null, op, seed, f, beta);
            String[] ins = lowerBound ? new String[] {"f", "beta"} : new String[] {"f"};
            double tol = dtype == DType.F32 ? 1e-5 : 1e-2;
            FamilyCheck.assertClose(
                    "log decay kernel vs cpu " + dtype,
                    kernel,
                    cpu,
                    tol,
                    dtype == DType.F32 ? 1e-4 : 1e-2,
                    new String[] {"g", "k"},
                    ins);
            FamilyCheck.assertClose(
                    "log decay composed on cuda (f32) vs cpu", composed, cpu, 1e-5, 1e-4, new String[] {"g", "k"}, ins);
        }
    }
}
