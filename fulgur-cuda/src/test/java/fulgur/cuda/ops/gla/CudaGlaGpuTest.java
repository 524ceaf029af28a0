package fulgur.cuda.ops.gla;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.gla.Gla;
import fulgur.ops.gla.GlaKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Gla#chunked} on CUDA through the kernel registry ({@link CudaGla}) against the composed form on CUDA
 * ({@code Kernels.use(GlaKernels.class, null)}) and the CPU: output, final state and the gradients of q, k, v, g and the
 * initial state; odd lengths, packed sequences (with empty ones, whose final state is their initial state and dS0 their
 * dS_T), bf16 on the tensor-core kernels and f32 on the exact ones; then decoding token by token from a state against
 * the chunked form.
 */
@Tag("gpu")
class CudaGlaGpuTest {
    static final String[] OUTS = {"o", "final state"};
    static final String[] INS = {"q", "k", "v", "g", "s0"};

    @ParameterizedTest(name = "B={0} T={1} H={2} dk={3} dv={4} {5} g {6} state={7} packed={8}")
    @CsvSource({
        "2, 67, 3, 64, 64, BF16, F32, true, ''",
        "2, 200, 2, 128, 128, BF16, BF16, false, ''",
        "1, 150, 2, 32, 48, BF16, F32, true, 0;37;37;150",
        "2, 45, 2, 40, 24, F32, F32, true, ''",
        "1, 131, 2, 16, 32, F32, F32, true, 0;64;64;131",
        // every sequence in one segment but the empty first and last ones: the states come from the scans
        "1, 100, 2, 64, 32, BF16, F32, true, 0;0;37;100;100",
    })
    void registryMatchesComposedAndCpu(
            int b, int t, int h, int dk, int dv, DType dtype, DType gType, boolean state, String packed) {
        BackendCheck.gpu();
        int[] cu = packed.isEmpty()
                ? null
                : java.util.Arrays.stream(packed.split(";"))
                        .mapToInt(Integer::parseInt)
                        .toArray();
        int n = cu == null ? b : cu.length - 1;
        long seed = 100L * t + dk;
        try (Scope s = Scope.open("gla")) {
            Tensor q = ZooCheck.signed(seed, dtype, b, t, h, dk).to(DType.F32),
                    k = ZooCheck.signed(seed + 1, dtype, b, t, h, dk).to(DType.F32);
            Tensor v = ZooCheck.signed(seed + 2, dtype, b, t, h, dv).to(DType.F32);
            Tensor g = ZooCheck.logDecay(seed + 3, gType, -2, 4, b, t, h, dk).to(DType.F32);
            Tensor s0 = state ? ZooCheck.signed(seed + 4, DType.F32, n, h, dk, dv) : null;
            DType[] types = {dtype, dtype, dtype, gType, DType.F32};
            Function<Tensor[], Tensor[]> op = x -> {
                Gla.Result r = Gla.chunked(x[0], x[1], x[2], x[3], 0.7, x[4], true, 16, cu);
                return new Tensor[] {r.output(), r.finalState()};
            };
            FamilyCheck.Result cpu = FamilyCheck.run(Device.CPU, null, op, seed, q, k, v, g, s0);
            FamilyCheck.Result kernel;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, GlaKernels.class)) {
                kernel = FamilyCheck.run(GPU, types, op, seed, q, k, v, g, s0);
                assertThat(calls.count("GlaKernels.forward"))
                        .as("forward through the kernel")
                        .isEqualTo(1);
                assertThat(calls.count("GlaKernels.backward"))
                        .as("backward through the kernel")
                        .isEqualTo(1);
            }
            FamilyCheck.Result composed = FamilyCheck.composed(GlaKernels.class, GPU, null, op, seed, q, k, v, g, s0);
            String[] ins = state ? INS : java.util.Arrays.copyOf(INS, 4);
            double tol = dtype == DType.F32 ? 1e-5 : 1e-2;
            FamilyCheck.assertClose(
                    "gla kernel vs cpu " + dtype, kernel, cpu, tol, dtype == DType.F32 ? 1e-4 : 1e-2, OUTS, ins);
            FamilyCheck.assertClose("gla composed on cuda (f32) vs cpu", composed, cpu, 1e-5, 1e-4, OUTS, ins);
        }
    }

    /** Decoding a token at a time from a state (the kernel's recurrent form) equals the chunked op over the same tokens. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"BF16", "F32"})
    void decodingEqualsTheChunkedForm(DType dtype) {
        BackendCheck.gpu();
        int b = 2, t = 9, h = 2, dk = 64, dv = 32;
        try (Scope s = Scope.open("gla-decode");
                var ng = GradMode.noGrad()) {
            Tensor q = ZooCheck.dev(ZooCheck.signed(1, dtype, b, t, h, dk)),
                    k = ZooCheck.dev(ZooCheck.signed(2, dtype, b, t, h, dk));
            Tensor v = ZooCheck.dev(ZooCheck.signed(3, dtype, b, t, h, dv)),
                    g = ZooCheck.dev(ZooCheck.logDecay(4, DType.F32, -2, 4, b, t, h, dk));
            Tensor s0 = ZooCheck.dev(ZooCheck.signed(5, DType.F32, b, h, dk, dv));
            Gla.Result whole = Gla.chunked(q, k, v, g, 0.5, s0, true, 16, null);
            Tensor state = s0.copy();
            double[] got = new double[(int) whole.output().numel()];
            for (int i = 0; i < t; i++) {
                double[] o = Gla.decode(
                                q.narrow(1, i, 1), k.narrow(1, i, 1), v.narrow(1, i, 1), g.narrow(1, i, 1), 0.5, state)
                        .toDoubleArray();
                for (int row = 0; row < b; row++)
                    System.arraycopy(o, row * h * dv, got, (row * t + i) * h * dv, h * dv);
            }
            double tol = dtype == DType.F32 ? 1e-5 : 1e-2;
            assertThat(BackendCheck.relErr(got, whole.output().toDoubleArray()))
                    .as("outputs")
                    .isLessThan(tol);
            assertThat(BackendCheck.relErr(
                            state.toDoubleArray(), whole.finalState().toDoubleArray()))
                    .as("state")
                    .isLessThan(tol);
        }
    }
}
