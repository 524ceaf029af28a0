package fulgur.cuda.ops.loss;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.backend.Backend;
import fulgur.backend.Backends;
import fulgur.backend.Kernels;
import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.CrossEntropyKernels;
import fulgur.ops.Losses;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The one-pass cross-entropy ({@link CudaCrossEntropy}): loss and gradient against the backend's two kernels on the
 * same bf16 logits (ignored rows, label smoothing, a vocabulary-wide row), a bad target reported as the two-kernel
 * path reports it, and {@link Losses#linearCrossEntropy} through it against the CPU.
 */
@Tag("gpu")
class CudaCrossEntropyGpuTest {

    /** Every kernel on, whatever {@link Kernels#OFF_BY_DEFAULT} holds back. */
    @BeforeEach
    void everyKernelOn() {
        System.setProperty(Kernels.OFF_PROPERTY, "");
    }

    @AfterEach
    void defaultKernels() {
        System.clearProperty(Kernels.OFF_PROPERTY);
    }

    private static Tensor targets(long seed, int rows, int vocab, int ignoreEvery) {
        Rng r = new Rng(seed);
        long[] t = new long[rows];
        for (int i = 0; i < rows; i++) t[i] = i % ignoreEvery == 3 ? -100 : (long) (r.nextDouble() * vocab);
        return Tensor.ofLongs(t, rows).to(GPU);
    }

    @ParameterizedTest(name = "[{0}, {1}] smoothing {2}")
    @CsvSource({"37, 512, 0.0", "300, 64000, 0.1", "5, 8, 0.0", "3, 131072, 0.05"})
    void oneKernelGivesTheTwoKernelsLossAndGradient(int rows, int vocab, double smoothing) {
        BackendCheck.gpu();
        try (Scope s = Scope.open("ce")) {
            Tensor logits = ZooCheck.uniform(rows + vocab, DType.BF16, -6, 6, rows, vocab)
                    .to(GPU);
            Tensor t = targets(vocab, rows, vocab, 5);
            Tensor share = Tensor.full(DType.F64, GPU, 0.37);
            CrossEntropyKernels k = Kernels.find(CrossEntropyKernels.class, GPU);
            assertThat(k.supports(logits)).isTrue();
            Tensor[] fused = k.lossAndGradient(logits, t, -100, smoothing, share);
            Backend be = Backends.of(logits);
            Tensor loss = be.crossEntropy(logits, t, -100, smoothing);
            Tensor grad = be.crossEntropyBackward(logits, t, -100, smoothing, share);
            assertThat(fused[0].dtype()).isEqualTo(DType.F32);
            assertThat(fused[1].dtype()).isEqualTo(DType.BF16);
            assertThat(fused[0].item()).isCloseTo(loss.item(), org.assertj.core.data.Offset.offset(1e-5 * loss.item()));
            // the same f32 formula per element, rounded once to bf16: equal up to the last bit of a few elements
            assertThat(BackendCheck.relErr(fused[1].toDoubleArray(), grad.toDoubleArray()))
                    .isLessThan(1e-3);
        }
    }

    @Test
    void aTargetOutsideTheVocabularyIsReported() {
        BackendCheck.gpu();
        try (Scope s = Scope.open("ce-bad")) {
            Tensor logits = ZooCheck.uniform(1, DType.BF16, -1, 1, 4, 16).to(GPU);
            Tensor t = Tensor.ofLongs(new long[] {1, 2, 16, 3}, 4).to(GPU);
            CrossEntropyKernels k = Kernels.find(CrossEntropyKernels.class, GPU);
            assertThatThrownBy(() -> k.lossAndGradient(logits, t, -100, 0, Tensor.full(DType.F32, GPU, 1))[0].item())
                    .isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining("target 16 at row 2 is outside [0, 16)");
        }
    }

    @Test
    void linearCrossEntropyThroughTheOnePassKernelMatchesTheCpu() {
        BackendCheck.gpu();
        int n = 3000, d = 64, vocab = 1000;
        try (Scope s = Scope.open("lce")) {
            Tensor h = ZooCheck.signed(11, DType.BF16, n, d).to(DType.F32);
            Tensor w = ZooCheck.signed(12, DType.BF16, vocab, d).to(DType.F32);
            long[] tv = new long[n];
            Rng r = new Rng(13);
            for (int i = 0; i < n; i++) tv[i] = i % 7 == 0 ? -100 : (long) (r.nextDouble() * vocab);
            Tensor t = Tensor.ofLongs(tv, n);
            Function<Tensor[], Tensor[]> op =
                    a -> new Tensor[] {Losses.linearCrossEntropy(a[0], a[1], a[2], -100, 0.05, 1024)};
            FamilyCheck.Result gpu;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, CrossEntropyKernels.class)) {
                gpu = FamilyCheck.run(GPU, new DType[] {DType.BF16, DType.BF16, null}, op, 3, h, w, t);
                assertThat(calls.count("CrossEntropyKernels.lossAndGradient")).isEqualTo(3);
            }
            FamilyCheck.Result cpu = FamilyCheck.run(Device.CPU, null, op, 3, h, w, t);
            FamilyCheck.assertClose(
                    "linear cross-entropy bf16 (cuda, one pass) vs f32 (cpu)",
                    gpu,
                    cpu,
                    1e-2,
                    2e-2,
                    new String[] {"loss"},
                    new String[] {"hidden", "weight"});
        }
    }
}
