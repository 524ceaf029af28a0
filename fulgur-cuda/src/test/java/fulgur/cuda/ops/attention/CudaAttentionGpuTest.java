package fulgur.cuda.ops.attention;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.attention.AttentionKernels;
import fulgur.ops.attention.SoftmaxAttention;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link SoftmaxAttention#attention} on CUDA through the kernel registry ({@link CudaAttention}, bf16) against the
 * composed form on CUDA (f32) and the CPU's kernel (f32, on the same bf16 values): output and the gradients of q, k and
 * v; grouped heads, odd lengths, every head dim, packed sequences (with an empty one), and causal masks at query
 * offsets the kernels' end-aligned mask does not express directly (keys no query sees; queries that see every key).
 */
@Tag("gpu")
class CudaAttentionGpuTest {

    @ParameterizedTest(name = "B={0} Tq={1} Tk={2} H={3} Hkv={4} d={5} causal={6} offset={7} packed={8}")
    @CsvSource({
        "2, 67, 67, 4, 2, 64, true, 0, ''",
        "1, 100, 100, 4, 4, 32, false, 0, ''",
        "2, 45, 45, 2, 1, 128, true, 0, ''",
        "1, 70, 70, 2, 2, 96, true, 0, ''",
        "2, 30, 100, 4, 2, 64, true, 70, ''",
        "2, 30, 100, 4, 2, 64, true, 40, ''",
        "2, 30, 50, 4, 2, 64, true, 40, ''",
        "1, 20, 20, 2, 2, 64, true, 64, ''",
        "1, 150, 150, 4, 2, 64, true, 0, 0;37;37;150",
    })
    void registryMatchesComposedAndCpu(
            int b, int tq, int tk, int h, int hkv, int d, boolean causal, long offset, String packed) {
        BackendCheck.gpu();
        int[] cu = packed.isEmpty()
                ? null
                : java.util.Arrays.stream(packed.split(";"))
                        .mapToInt(Integer::parseInt)
                        .toArray();
        long seed = 17L * tq + tk + d;
        double scale = 1 / Math.sqrt(d);
        try (Scope s = Scope.open("attention")) {
            Tensor q = ZooCheck.signed(seed, DType.BF16, b, tq, h, d).to(DType.F32),
                    k = ZooCheck.signed(seed + 1, DType.BF16, b, tk, hkv, d).to(DType.F32);
            Tensor v = ZooCheck.signed(seed + 2, DType.BF16, b, tk, hkv, d).to(DType.F32);
            DType[] bf16 = {DType.BF16, DType.BF16, DType.BF16};
            Function<Tensor[], Tensor[]> op =
                    x -> new Tensor[] {SoftmaxAttention.attention(x[0], x[1], x[2], scale, causal, offset, cu, cu)};
            FamilyCheck.Result cpu = FamilyCheck.run(Device.CPU, null, op, seed, q, k, v);
            FamilyCheck.Result kernel;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, AttentionKernels.class)) {
                kernel = FamilyCheck.run(GPU, bf16, op, seed, q, k, v);
                assertThat(calls.count("AttentionKernels.forward")).isEqualTo(1);
                assertThat(calls.count("AttentionKernels.backward")).isEqualTo(1);
            }
            FamilyCheck.Result composed = FamilyCheck.composed(AttentionKernels.class, GPU, null, op, seed, q, k, v);
            String[] ins = {"q", "k", "v"};
            FamilyCheck.assertClose("attention kernel (bf16) vs cpu", kernel, cpu, 1e-2, 1e-2, new String[] {"o"}, ins);
            FamilyCheck.assertClose(
                    "attention composed on cuda (f32) vs cpu", composed, cpu, 1e-5, 1e-4, new String[] {"o"}, ins);
        }
    }

    /** f32 inputs and head dims the kernels lack take the composed form on CUDA (and still match the CPU). */
    @ParameterizedTest(name = "{0} d={1}")
    @CsvSource({"F32, 64", "BF16, 48"})
    void argumentsTheKernelsLackRunComposed(DType dtype, int d) {
        BackendCheck.gpu();
        try (Scope s = Scope.open("attention-composed")) {
            Tensor q = ZooCheck.signed(1, DType.BF16, 1, 33, 2, d).to(DType.F32),
                    k = ZooCheck.signed(2, DType.BF16, 1, 33, 2, d).to(DType.F32);
            Tensor v = ZooCheck.signed(3, DType.BF16, 1, 33, 2, d).to(DType.F32);
            Function<Tensor[], Tensor[]> op =
                    x -> new Tensor[] {SoftmaxAttention.attention(x[0], x[1], x[2], 0.2, true, 0)};
            FamilyCheck.Result cpu = FamilyCheck.run(Device.CPU, null, op, 5, q, k, v);
            FamilyCheck.Result gpu;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, AttentionKernels.class)) {
                gpu = FamilyCheck.run(GPU, new DType[] {dtype, dtype, dtype}, op, 5, q, k, v);
                assertThat(calls.count("AttentionKernels.forward")).isZero();
            }
            // bf16 composed: the scores, the probabilities and the output are each rounded to bf16 (gradients one step
            // more)
            double tol = dtype == DType.F32 ? 1e-5 : 2e-2;
            FamilyCheck.assertClose(
                    "attention composed on cuda " + dtype,
                    gpu,
                    cpu,
                    tol,
                    dtype == DType.F32 ? 1e-4 : 3e-2,
                    new String[] {"o"},
                    new String[] {"q", "k", "v"});
        }
    }
}
