package fulgur.cuda.ops.lightnet;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.lightnet.LightNet;
import fulgur.ops.lightnet.LightNetKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link LightNet#apply} on CUDA through the kernel registry ({@link CudaLightNet}) against the composed form on CUDA
 * and the CPU's kernel: output, final S and z, and the gradients of q, k, v and the initial state; odd lengths, bf16 on
 * the tensor-core GLA and f32 on the exact one; then decoding a token at a time from the state.
 */
@Tag("gpu")
class CudaLightNetGpuTest {

    @ParameterizedTest(name = "B={0} T={1} H={2} dk={3} dv={4} {5} state={6} final={7}")
    @CsvSource({
        "2, 67, 2, 64, 64, BF16, false, false",
        "2, 130, 2, 32, 48, BF16, true, true",
        "1, 200, 3, 128, 128, BF16, false, true",
        "2, 45, 2, 24, 40, F32, true, true",
    })
    void registryMatchesComposedAndCpu(
            int b, int t, int h, int dk, int dv, DType dtype, boolean state, boolean wantFinal) {
        BackendCheck.gpu();
        long seed = 7L * t + dk;
        try (Scope s = Scope.open("lightnet")) {
            Tensor q = ZooCheck.signed(seed, dtype, b, t, h, dk).to(DType.F32),
                    k = ZooCheck.signed(seed + 1, dtype, b, t, h, dk).to(DType.F32);
            Tensor v = ZooCheck.signed(seed + 2, dtype, b, t, h, dv).to(DType.F32);
            Tensor s0 = state ? ZooCheck.signed(seed + 3, DType.F32, b, h, dk, dv) : null;
            Tensor z0 = state ? ZooCheck.uniform(seed + 4, DType.F32, -1, 2, b, h, dk) : null;
            DType[] types = {dtype, dtype, dtype, DType.F32, DType.F32};
            Function<Tensor[], Tensor[]> op = x -> {
                LightNet.Result r = LightNet.apply(
                        x[0], x[1], x[2], x[3] == null ? null : new LightNet.State(x[3], x[4]), wantFinal);
                return wantFinal
                        ? new Tensor[] {
                            r.output(), r.finalState().s(), r.finalState().z()
                        }
                        : new Tensor[] {r.output()};
            };
            FamilyCheck.Result cpu = FamilyCheck.run(Device.CPU, null, op, seed, q, k, v, s0, z0);
            FamilyCheck.Result kernel;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, LightNetKernels.class)) {
                kernel = FamilyCheck.run(GPU, types, op, seed, q, k, v, s0, z0);
                assertThat(calls.count("LightNetKernels.forward")).isEqualTo(1);
                assertThat(calls.count("LightNetKernels.backward")).isEqualTo(1);
            }
            FamilyCheck.Result composed =
                    FamilyCheck.composed(LightNetKernels.class, GPU, null, op, seed, q, k, v, s0, z0);
            String[] outs = {"o", "S", "z"};
            String[] ins = state ? new String[] {"q", "k", "v", "s0", "z0"} : new String[] {"q", "k", "v"};
            double tolOut = dtype == DType.F32 ? 1e-5 : 1e-2, tolGrad = dtype == DType.F32 ? 1e-4 : 1e-2;
            FamilyCheck.assertClose("lightnet kernel vs cpu " + dtype, kernel, cpu, tolOut, tolGrad, outs, ins);
            FamilyCheck.assertClose("lightnet composed on cuda (f32) vs cpu", composed, cpu, 1e-5, 1e-4, outs, ins);
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"BF16", "F32"})
    void decodingEqualsTheWholeSequence(DType dtype) {
        BackendCheck.gpu();
        int b = 2, t = 7, h = 2, dk = 32, dv = 64;
        try (Scope s = Scope.open("lightnet-decode");
                var ng = GradMode.noGrad()) {
            Tensor q = ZooCheck.dev(ZooCheck.signed(1, dtype, b, t, h, dk)),
                    k = ZooCheck.dev(ZooCheck.signed(2, dtype, b, t, h, dk));
            Tensor v = ZooCheck.dev(ZooCheck.signed(3, dtype, b, t, h, dv));
            LightNet.Result whole = LightNet.apply(q, k, v, null, true);
            LightNet.State state = null;
            double[] got = new double[(int) whole.output().numel()];
            for (int i = 0; i < t; i++) {
                LightNet.Result step =
                        LightNet.apply(q.narrow(1, i, 1), k.narrow(1, i, 1), v.narrow(1, i, 1), state, true);
                state = step.finalState();
                double[] o = step.output().toDoubleArray();
                for (int row = 0; row < b; row++)
                    System.arraycopy(o, row * h * dv, got, (row * t + i) * h * dv, h * dv);
            }
            double tol = dtype == DType.F32 ? 1e-5 : 1e-2;
            assertThat(BackendCheck.relErr(got, whole.output().toDoubleArray()))
                    .as("outputs")
                    .isLessThan(tol);
            assertThat(BackendCheck.relErr(
                            state.s().toDoubleArray(), whole.finalState().s().toDoubleArray()))
                    .as("S")
                    .isLessThan(tol);
            assertThat(BackendCheck.relErr(
                            state.z().toDoubleArray(), whole.finalState().z().toDoubleArray()))
                    .as("z")
                    .isLessThan(tol);
        }
    }
}
