package fulgur.cuda.cublas;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.GpuSupport;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

@Tag("gpu")
class LtGemmGpuTest {

    @ParameterizedTest(name = "{0} transA={1} transB={2}")
    @CsvSource({
        "BF16,false,false",
        "BF16,true,false",
        "BF16,false,true",
        "BF16,true,true",
        "BF16_F32OUT,false,false",
        "F32,false,false",
        "F32,true,true",
        "TF32,false,false"
    })
    void matchesACpuProduct(LtGemm.Precision p, boolean ta, boolean tb) {
        CudaContext ctx = GpuSupport.context();
        int m = 192, n = 136, k = 328;
        SplittableRandom r = new SplittableRandom(m * 31L + (ta ? 1 : 0) + (tb ? 2 : 0) + p.ordinal() * 7L);
        boolean bf16in = p == LtGemm.Precision.BF16 || p == LtGemm.Precision.BF16_F32OUT;
        float[] A = bf16in ? GpuSupport.randomBf16(r, m * k, -1, 1) : GpuSupport.randomF32(r, m * k, -1, 1);
        float[] B = bf16in ? GpuSupport.randomBf16(r, k * n, -1, 1) : GpuSupport.randomF32(r, k * n, -1, 1);
        // A is [m,k] or (transA) stored [k,m]; B is [k,n] or (transB) stored [n,k]
        double[] ref = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int l = 0; l < k; l++) {
                    double a = ta ? A[l * m + i] : A[i * k + l];
                    double b = tb ? B[j * k + l] : B[l * n + j];
                    s += a * b;
                }
                ref[i * n + j] = s;
            }
        try (LtGemm g = new LtGemm(ctx);
                DeviceBuffer dA = bf16in ? GpuSupport.uploadBf16(ctx, A) : GpuSupport.uploadF32(ctx, A);
                DeviceBuffer dB = bf16in ? GpuSupport.uploadBf16(ctx, B) : GpuSupport.uploadF32(ctx, B);
                DeviceBuffer dC = ctx.allocate((p == LtGemm.Precision.BF16 ? 2L : 4L) * m * n, CudaStream.DEFAULT)) {
            if (p == LtGemm.Precision.BF16) dC.fill16((short) 0x7FC0, CudaStream.DEFAULT);
            else dC.fill32(0x7FC00000, CudaStream.DEFAULT);
            g.matmul(CudaStream.DEFAULT, p, ta, tb, m, n, k, 1f, dA, ta ? m : k, dB, tb ? k : n, 0f, dC, n);
            g.matmul(CudaStream.DEFAULT, p, ta, tb, m, n, k, 1f, dA, ta ? m : k, dB, tb ? k : n, 0f, dC, n);
            assertThat(g.cachedPlans()).isEqualTo(1);
            ctx.synchronize();
            float[] C =
                    p == LtGemm.Precision.BF16 ? GpuSupport.downloadBf16(dC, m * n) : GpuSupport.downloadF32(dC, m * n);
            double err = GpuSupport.relErr(C, ref);
            double tol = switch (p) {
                case F32 -> 1e-5;
                case TF32 -> 3e-3;
                default -> 1e-2;
            };
            System.out.printf("gemm %s ta=%b tb=%b rel err %.2e%n", p, ta, tb, err);
            assertThat(err).isLessThan(tol);
        }
    }
}
