package fulgur.cuda.ops.lcsm;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.lcsm.Lcsm;
import fulgur.ops.lcsm.LcsmKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Lcsm#scan} on CUDA through the kernel registry ({@link CudaLcsm}) against the composed form on CUDA and the
 * CPU's kernel: y, m_T and the gradients of i, e, logO, s and m0, with the model's broadcast layouts (a data-dependent
 * e and s [B, T, k, 1]; logO per token [B, T, k, d] or fixed [1, 1, k, d]), odd lengths, f32 and bf16.
 */
@Tag("gpu")
class CudaLcsmGpuTest {

    @ParameterizedTest(name = "B={0} T={1} k={2} d={3} {4} logO per token={5} m0={6}")
    @CsvSource({
        "2, 67, 8, 48, F32, true, true",
        "2, 67, 8, 48, BF16, true, false",
        "1, 300, 4, 64, BF16, false, true",
        "3, 45, 40, 24, F32, false, false",
    })
    void registryMatchesComposedAndCpu(int b, int t, int k, int d, DType dtype, boolean perToken, boolean m0) {
        BackendCheck.gpu();
        long seed = 11L * t + k;
        try (Scope s = Scope.open("lcsm")) {
            Tensor i = ZooCheck.signed(seed, dtype, b, t, d).to(DType.F32),
                    e = ZooCheck.signed(seed + 1, dtype, b, t, k, 1).to(DType.F32);
            Tensor logO = perToken
                    ? ZooCheck.logDecay(seed + 2, dtype, -1, 5, b, t, k, d).to(DType.F32)
                    : ZooCheck.logDecay(seed + 2, dtype, -1, 5, 1, 1, k, d).to(DType.F32);
            Tensor sv = ZooCheck.signed(seed + 3, dtype, b, t, k, 1).to(DType.F32);
            Tensor init = m0 ? ZooCheck.signed(seed + 4, dtype, b, k, d).to(DType.F32) : null;
            DType[] types = {dtype, dtype, dtype, dtype, dtype};
            Function<Tensor[], Tensor[]> op = x -> {
                Lcsm.Result r = Lcsm.scan(x[0], x[1], x[2], x[3], x[4]);
                return new Tensor[] {r.output(), r.finalState()};
            };
            FamilyCheck.Result cpu = FamilyCheck.run(Device.CPU, null, op, seed, i, e, logO, sv, init);
            FamilyCheck.Result kernel;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, LcsmKernels.class)) {
                kernel = FamilyCheck.run(GPU, types, op, seed, i, e, logO, sv, init);
                assertThat(calls.count("LcsmKernels.forward")).isEqualTo(1);
                assertThat(calls.count("LcsmKernels.backward")).isEqualTo(1);
            }
            FamilyCheck.Result composed =
                    FamilyCheck.composed(LcsmKernels.class, GPU, null, op, seed, i, e, logO, sv, init);
            String[] ins = m0 ? new String[] {"i", "e", "logO", "s", "m0"} : new String[] {"i", "e", "logO", "s"};
            // bf16 gradients of the broadcast e and s are sums over d of bf16-rounded terms of both signs: two
            // roundings deep
            double tolOut = dtype == DType.F32 ? 1e-5 : 1e-2, tolGrad = dtype == DType.F32 ? 1e-4 : 2e-2;
            FamilyCheck.assertClose(
                    "lcsm kernel vs cpu " + dtype, kernel, cpu, tolOut, tolGrad, new String[] {"y", "m_T"}, ins);
            FamilyCheck.assertClose(
                    "lcsm composed on cuda (f32) vs cpu", composed, cpu, 1e-5, 1e-4, new String[] {"y", "m_T"}, ins);
        }
    }
}
