package fulgur.cuda.ops.norm;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.Norms;
import fulgur.ops.ResidualNormKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Norms#addRmsNorm} on CUDA through the registry ({@link CudaResidualNorm}) against the sum then the norm on
 * CUDA: the sum, the norm and the gradients of x, y and the gain bit for bit (the kernel rounds the sum as the sum's
 * kernel does before normalising it), at several widths of the warp-per-row kernel and at one it does not take.
 */
@Tag("gpu")
class CudaResidualNormGpuTest {

    @ParameterizedTest(name = "{0} [{1}, {2}] gain={3} kernel={4}")
    @CsvSource({
        "BF16, 1000, 1024, false, true",
        "BF16, 77, 256, true, true",
        "BF16, 300, 2048, true, true",
        "BF16, 64, 1536, false, true",
        "F32, 129, 1024, true, true",
        "F32, 40, 128, false, true",
        "BF16, 50, 96, true, false",
    })
    void registryMatchesTheSumThenTheNormBitForBit(DType dtype, int rows, int cols, boolean gain, boolean kernel) {
        BackendCheck.gpu();
        long seed = 31L * rows + cols;
        try (Scope s = Scope.open("residual-norm")) {
            Tensor x = ZooCheck.signed(seed, dtype, rows, cols).to(DType.F32),
                    y = ZooCheck.signed(seed + 1, dtype, rows, cols).to(DType.F32);
            Tensor w = gain ? ZooCheck.uniform(seed + 2, dtype, 0.5, 1.5, cols).to(DType.F32) : null;
            Function<Tensor[], Tensor[]> op = a -> Norms.addRmsNorm(a[0], a[1], a[2], 1e-6);
            DType[] types = {dtype, dtype, dtype};
            FamilyCheck.Result fused;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, ResidualNormKernels.class)) {
                fused = FamilyCheck.run(GPU, types, op, seed, x, y, w);
                assertThat(calls.count("ResidualNormKernels.forward")).isEqualTo(kernel ? 1 : 0);
            }
            FamilyCheck.Result composed =
                    FamilyCheck.composed(ResidualNormKernels.class, GPU, types, op, seed, x, y, w);
            String[] outs = {"h", "norm"};
            for (int i = 0; i < outs.length; i++) {
                BackendCheck.assertBitEqual(
                        outs[i], fused.outputs().get(i), composed.outputs().get(i));
            }
            String[] ins = gain ? new String[] {"dx", "dy", "dgain"} : new String[] {"dx", "dy"};
            for (int i = 0; i < ins.length; i++) {
                BackendCheck.assertBitEqual(
                        ins[i], fused.grads().get(i), composed.grads().get(i));
            }
        }
    }
}
