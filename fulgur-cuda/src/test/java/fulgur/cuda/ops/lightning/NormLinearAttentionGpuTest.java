package fulgur.cuda.ops.lightning;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.Kernels;
import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.Views;
import fulgur.ops.lightning.Lightning;
import fulgur.ops.lightning.LightningChunked;
import fulgur.ops.lightning.LightningKernels;
import fulgur.ops.lightning.NormLinearAttention;
import fulgur.ops.lightning.NormLinearAttentionKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * TNL's mixer after its fused projection ({@link NormLinearAttention}) on CUDA: the fused kernels
 * ({@link CudaNormLinearAttention}: v and u read in place, d qkvu written in one buffer with silu' applied in the
 * lightning kernels' epilogues) against the same op composed on CUDA and against the CPU, output and the gradients of
 * qkvu and the gain; and the lightning kernels reading q, k, v as column slices give what they give on contiguous
 * copies, bit for bit.
 */
@Tag("gpu")
class NormLinearAttentionGpuTest {

    /** Every kernel on, whatever {@link Kernels#OFF_BY_DEFAULT} holds back. */
    @BeforeEach
    void everyKernelOn() {
        System.setProperty(Kernels.OFF_PROPERTY, "");
    }

    @AfterEach
    void defaultKernels() {
        System.clearProperty(Kernels.OFF_PROPERTY);
        System.clearProperty("fulgur.cuda.nla.siluOnLoad");
    }

    @ParameterizedTest(name = "B={0} T={1} H={2} d={3} gain={4} SiLU on load={5}")
    @CsvSource({
        "2, 200, 2, 64, false, false", // a partial last block
        "1, 1000, 2, 128, true, false", // several segments per sequence
        "3, 64, 1, 128, false, false",
        "1, 7, 4, 64, true, false",
        "2, 200, 2, 64, false, true",
        "1, 1000, 2, 128, true, true",
    })
    void fusedMatchesComposedAndCpu(int b, int t, int h, int d, boolean gain, boolean siluOnLoad) {
        BackendCheck.gpu();
        if (siluOnLoad) System.setProperty("fulgur.cuda.nla.siluOnLoad", "true");
        long seed = 13L * t + d;
        double[] slopes = new double[h];
        for (int i = 0; i < h; i++) slopes[i] = 0.05 + 0.3 * i / h;
        try (Scope s = Scope.open("nla")) {
            Tensor qkvu =
                    ZooCheck.uniform(seed, DType.BF16, -2, 2, b, t, 4 * h * d).to(DType.F32);
            Tensor w = gain
                    ? ZooCheck.uniform(seed + 1, DType.BF16, 0.5, 1.5, h * d).to(DType.F32)
                    : null;
            Function<Tensor[], Tensor[]> op =
                    a -> new Tensor[] {NormLinearAttention.apply(a[0], h, slopes, 1.0, a[1], 1e-6)};
            DType[] bf = {DType.BF16, DType.BF16};
            FamilyCheck.Result fused;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, NormLinearAttentionKernels.class)) {
                fused = FamilyCheck.run(GPU, bf, op, seed, qkvu, w);
                assertThat(calls.count("NormLinearAttentionKernels.forward")).isEqualTo(1);
                assertThat(calls.count("NormLinearAttentionKernels.backward")).isEqualTo(1);
            }
            FamilyCheck.Result composed =
                    FamilyCheck.composed(NormLinearAttentionKernels.class, GPU, bf, op, seed, qkvu, w);
            FamilyCheck.Result cpu = FamilyCheck.run(Device.CPU, null, op, seed, qkvu, w);
            String[] ins = gain ? new String[] {"qkvu", "gain"} : new String[] {"qkvu"};
            // silu' (and SiLU on load) from the hardware's exp2 and reciprocal, within 2 ulp of f32 of the elementwise
            // kernels' formulas; the fused norm rounds norm·u once where the composed form rounds the norm and then
            // the product: within one bf16 step (2⁻⁸) of each other
            FamilyCheck.assertClose(
                    "fused vs composed (cuda, bf16)", fused, composed, 4e-3, 4e-3, new String[] {"y"}, ins);
            FamilyCheck.assertClose("fused (bf16) vs cpu (f32)", fused, cpu, 2e-2, 3e-2, new String[] {"y"}, ins);
            FamilyCheck.assertClose("composed (bf16) vs cpu (f32)", composed, cpu, 2e-2, 3e-2, new String[] {"y"}, ins);
        }
    }

    @ParameterizedTest(name = "B={0} T={1} H={2} d={3}")
    @CsvSource({"2, 300, 2, 64", "1, 1000, 3, 128"})
    void slicesOfOneProjectionAreReadInPlace(int b, int t, int h, int d) {
        BackendCheck.gpu();
        long seed = 5L * t + h;
        double[] slopes = new double[h];
        for (int i = 0; i < h; i++) slopes[i] = 0.1 + 0.2 * i;
        try (Scope s = Scope.open("lightning-slices")) {
            Tensor qkv =
                    ZooCheck.uniform(seed, DType.BF16, -1, 1, b, t, 3 * h * d).to(DType.F32);
            Function<Boolean, Function<Tensor[], Tensor[]>> op = copy -> a -> {
                Tensor[] qkvParts = new Tensor[3];
                for (int i = 0; i < 3; i++) {
                    Tensor x = Views.reshape(Views.narrow(a[0], -1, i * h * d, h * d), b, t, h, d);
                    qkvParts[i] = copy ? x.contiguous() : x;
                }
                return new Tensor[] {
                    Lightning.chunked(
                                    qkvParts[0],
                                    qkvParts[1],
                                    qkvParts[2],
                                    slopes,
                                    0.5,
                                    null,
                                    false,
                                    LightningChunked.DEFAULT_BLOCK,
                                    null)
                            .output()
                };
            };
            DType[] bf = {DType.BF16};
            FamilyCheck.Result inPlace, copied;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, LightningKernels.class)) {
                inPlace = FamilyCheck.run(GPU, bf, op.apply(false), seed, qkv);
                copied = FamilyCheck.run(GPU, bf, op.apply(true), seed, qkv);
                assertThat(calls.count("LightningKernels.forward")).isEqualTo(2);
            }
            BackendCheck.assertBitEqual(
                    "output", inPlace.outputs().get(0), copied.outputs().get(0));
            BackendCheck.assertBitEqual(
                    "gradient", inPlace.grads().get(0), copied.grads().get(0));
        }
    }
}
