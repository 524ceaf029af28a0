package fulgur.cuda.ops.conv;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.conv.ShortConvKernels;
import fulgur.ops.conv.ShortConvolution;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link ShortConvolution#apply} on CUDA through the kernel registry ({@link CudaShortConv}) against the composed form
 * on CUDA and the CPU: output, new tail and the gradients of x, weight, bias and tail; inputs shorter than the kernel,
 * odd lengths, f32 and bf16; then decoding a token at a time from the tail.
 */
@Tag("gpu")
class CudaShortConvGpuTest {

    @ParameterizedTest(name = "B={0} T={1} D={2} K={3} {4} bias={5} tail={6} silu={7}")
    @CsvSource({
        "2, 67, 48, 4, F32, true, true, true",
        "2, 67, 48, 4, BF16, false, true, true",
        "3, 2, 16, 4, F32, true, false, false",
        "1, 130, 64, 3, BF16, true, false, true",
    })
    void registryMatchesComposedAndCpu(
            int b, int t, int d, int k, DType dtype, boolean bias, boolean tail, boolean silu) {
        BackendCheck.gpu();
        long seed = 13L * t + d;
        try (Scope s = Scope.open("conv")) {
            Tensor x = ZooCheck.signed(seed, dtype, b, t, d).to(DType.F32),
                    w = ZooCheck.signed(seed + 1, dtype, d, k).to(DType.F32);
            Tensor bb = bias ? ZooCheck.signed(seed + 2, dtype, d).to(DType.F32) : null;
            Tensor tl = tail ? ZooCheck.signed(seed + 3, dtype, b, k - 1, d).to(DType.F32) : null;
            DType[] types = {dtype, dtype, dtype, dtype};
            Function<Tensor[], Tensor[]> op = a -> {
                ShortConvolution.Result r = ShortConvolution.apply(a[0], a[1], a[2], a[3], silu);
                return new Tensor[] {r.output(), r.tail()};
            };
            FamilyCheck.Result cpu = FamilyCheck.run(Device.CPU, null, op, seed, x, w, bb, tl);
            FamilyCheck.Result kernel;
            try (FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, ShortConvKernels.class)) {
                kernel = FamilyCheck.run(GPU, types, op, seed, x, w, bb, tl);
                assertThat(calls.count("ShortConvKernels.forward")).isEqualTo(1);
                assertThat(calls.count("ShortConvKernels.backward")).isEqualTo(1);
            }
            FamilyCheck.Result composed =
                    FamilyCheck.composed(ShortConvKernels.class, GPU, null, op, seed, x, w, bb, tl);
            java.util.List<String> ins = new java.util.ArrayList<>(java.util.List.of("x", "weight"));
            if (bias) ins.add("bias");
            if (tail) ins.add("tail");
            String[] names = ins.toArray(String[]::new);
            double tolOut = dtype == DType.F32 ? 1e-5 : 1e-2, tolGrad = dtype == DType.F32 ? 1e-4 : 1e-2;
            FamilyCheck.assertClose(
                    "short conv kernel vs cpu " + dtype,
                    kernel,
                    cpu,
                    tolOut,
                    tolGrad,
                    new String[] {"y", "tail"},
                    names);
            FamilyCheck.assertClose(
                    "short conv composed on cuda (f32) vs cpu",
                    composed,
                    cpu,
                    1e-5,
                    1e-4,
                    new String[] {"y", "tail"},
                    names);
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"BF16", "F32"})
    void decodingEqualsTheWholeSequence(DType dtype) {
        BackendCheck.gpu();
        int b = 2, t = 9, d = 32, k = 4;
        try (Scope s = Scope.open("conv-decode");
                var ng = GradMode.noGrad()) {
            Tensor x = ZooCheck.dev(ZooCheck.signed(1, dtype, b, t, d)),
                    w = ZooCheck.dev(ZooCheck.signed(2, dtype, d, k));
            Tensor tail = ZooCheck.dev(ZooCheck.signed(3, dtype, b, k - 1, d));
            ShortConvolution.Result whole = ShortConvolution.apply(x, w, null, tail, true);
            Tensor state = tail.copy();
            double[] got = new double[(int) whole.output().numel()];
            for (int i = 0; i < t; i++) {
                double[] y = ShortConvolution.decode(x.narrow(1, i, 1), w, null, state, true)
                        .toDoubleArray();
                for (int row = 0; row < b; row++) System.arraycopy(y, row * d, got, (row * t + i) * d, d);
            }
            assertThat(BackendCheck.relErr(got, whole.output().toDoubleArray()))
                    .isLessThan(dtype == DType.F32 ? 1e-6 : 1e-2);
            assertThat(state.toDoubleArray())
                    .containsExactly(whole.tail().contiguous().toDoubleArray());
        }
    }
}
