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

/** The backend's batched GEMM: timed algorithm choice and accumulation into C give the product's values. */
@Tag("gpu")
class BatchedGemmGpuTest {

    @ParameterizedTest(name = "autotune={0} batch={1} beta={2}")
    @CsvSource({"0,1,0", "8,1,0", "8,3,0", "0,1,1", "8,3,1"})
    void bf16ProductsWithF32OutputMatchTheCpu(int autotune, int batch, double beta) {
        CudaContext ctx = GpuSupport.context();
        int m = 192, n = 136, k = 328;
        SplittableRandom r = new SplittableRandom(17L * autotune + 5L * batch + (long) beta);
        float[] A = GpuSupport.randomBf16(r, batch * m * k, -1, 1);
        float[] B = GpuSupport.randomBf16(r, batch * k * n, -1, 1);
        float[] C0 = GpuSupport.randomF32(r, batch * m * n, -1, 1);
        double[] ref = new double[batch * m * n];
        for (int p = 0; p < batch; p++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = beta * C0[p * m * n + i * n + j];
                    for (int l = 0; l < k; l++) s += (double) A[p * m * k + i * k + l] * B[p * k * n + l * n + j];
                    ref[p * m * n + i * n + j] = s;
                }
        CudaStream stream = CudaStream.DEFAULT;
        try (BatchedGemm g = new BatchedGemm(ctx, stream, autotune);
                DeviceBuffer dA = GpuSupport.uploadBf16(ctx, A);
                DeviceBuffer dB = GpuSupport.uploadBf16(ctx, B);
                DeviceBuffer dC = GpuSupport.uploadF32(ctx, C0)) {
            g.matmul(
                    BatchedGemm.Types.BF16_F32,
                    false,
                    false,
                    m,
                    n,
                    k,
                    dA.address(),
                    k,
                    (long) m * k,
                    dB.address(),
                    n,
                    (long) k * n,
                    dC.address(),
                    n,
                    (long) m * n,
                    batch,
                    beta,
                    dC.address());
            assertThat(g.cachedPlans()).isEqualTo(1);
            ctx.synchronize();
            double err = GpuSupport.relErr(GpuSupport.downloadF32(dC, batch * m * n), ref);
            System.out.printf("batched gemm autotune=%d batch=%d beta=%s rel err %.2e%n", autotune, batch, beta, err);
            assertThat(err).isLessThan(1e-5);
        }
    }
}
