package fulgur.cuda.ops.matmul;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.Backends;
import fulgur.backend.Kernels;
import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.MatmulIntoKernels;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Products written into a tensor ({@link CudaMatmulInto}): against the backend's product, plus beta times what c held,
 * with transposed operands, an f32 c from bf16 operands and c a row slice of a wider tensor.
 */
@Tag("gpu")
class CudaMatmulIntoGpuTest {

    @ParameterizedTest(name = "{0}→{1} transA={2} transB={3} beta={4}")
    @CsvSource({
        "BF16,F32,true,false,1",
        "BF16,F32,true,false,0",
        "BF16,BF16,false,false,0",
        "BF16,BF16,false,true,1",
        "F32,F32,false,true,1",
        "F64,F64,true,true,0.5"
    })
    void writesTheProductPlusBetaTimesC(DType in, DType out, boolean ta, boolean tb, double beta) {
        BackendCheck.gpu();
        int m = 70, n = 136, k = 200;
        try (Scope s = Scope.open("into")) {
            Tensor a = ZooCheck.uniform(1, in, -1, 1, ta ? k : m, ta ? m : k).to(GPU);
            Tensor b = ZooCheck.uniform(2, in, -1, 1, tb ? n : k, tb ? k : n).to(GPU);
            // c: rows 5..5+m of a wider [m + 9, n] tensor
            Tensor wide = ZooCheck.uniform(3, out, -1, 1, m + 9, n).to(GPU);
            double[] was = wide.toDoubleArray(); // before the product writes into it
            Tensor c = Views.narrow(wide, 0, 5, m);
            MatmulIntoKernels k8 = Kernels.find(MatmulIntoKernels.class, GPU);
            assertThat(k8.supports(a, b, c)).isTrue();
            k8.matmulInto(a, b, ta, tb, c, beta);
            Tensor want = Backends.of(a).matmul(a, b, ta, tb, DType.F64 == in ? DType.F64 : DType.F32);
            double[] got = wide.toDoubleArray();
            double[] prod = want.toDoubleArray();
            double tol = out == DType.BF16 ? 8e-3 : out == DType.F32 ? 1e-5 : 1e-12;
            for (int i = 0; i < m + 9; i++) {
                for (int j = 0; j < n; j++) {
                    int at = i * n + j;
                    boolean inside = i >= 5 && i < 5 + m;
                    double expect = inside ? prod[(i - 5) * n + j] + beta * was[at] : was[at];
                    assertThat(Math.abs(got[at] - expect))
                            .as("row %d col %d", i, j)
                            .isLessThanOrEqualTo(inside ? tol * (1 + Math.abs(expect)) : 0.0);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}→{1} transA={2} transB={3}")
    @CsvSource({"BF16,BF16,false,false", "BF16,F32,true,false", "F32,F32,false,true"})
    void aProductPlusAnAddendIsANewTensorAndTheAddendStays(DType in, DType out, boolean ta, boolean tb) {
        BackendCheck.gpu();
        int m = 70, n = 136, k = 200;
        try (Scope s = Scope.open("plus")) {
            Tensor a = ZooCheck.uniform(4, in, -1, 1, ta ? k : m, ta ? m : k).to(GPU);
            Tensor b = ZooCheck.uniform(5, in, -1, 1, tb ? n : k, tb ? k : n).to(GPU);
            Tensor addend = ZooCheck.uniform(6, out, -1, 1, m, n).to(GPU);
            double[] was = addend.toDoubleArray();
            Tensor sum = Kernels.find(MatmulIntoKernels.class, GPU).matmulPlus(a, b, ta, tb, addend);
            assertThat(sum.dtype()).isEqualTo(out);
            assertThat(addend.toDoubleArray()).containsExactly(was);
            double[] prod = Backends.of(a).matmul(a, b, ta, tb, DType.F32).toDoubleArray();
            double[] got = sum.toDoubleArray();
            double tol = out == DType.BF16 ? 8e-3 : 1e-5;
            for (int i = 0; i < got.length; i++) {
                double expect = prod[i] + was[i];
                assertThat(Math.abs(got[i] - expect)).as("at %d", i).isLessThanOrEqualTo(tol * (1 + Math.abs(expect)));
            }
        }
    }
}
