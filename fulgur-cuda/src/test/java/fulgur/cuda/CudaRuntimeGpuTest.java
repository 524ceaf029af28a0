package fulgur.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.cuda.driver.CudaDriver;
import fulgur.cuda.driver.CudaException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("gpu")
class CudaRuntimeGpuTest {
    static final String AXPY = """
      extern "C" __global__ void axpy(float a, const float* __restrict__ x, float* __restrict__ y, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n) y[i] = a * x[i] + y[i];
      }
      """;

    @Test
    void deviceProperties() {
        CudaContext ctx = GpuSupport.context();
        CudaDevice d = ctx.device();
        System.out.println("device: " + d + ", driver " + CudaDriver.get().driverVersion() + ", arch " + d.arch());
        assertThat(d.name()).isNotBlank();
        assertThat(d.multiprocessors()).isPositive();
        assertThat(d.ccMajor()).isGreaterThanOrEqualTo(5);
        assertThat(d.totalMemory()).isPositive();
    }

    @Test
    void copiesAndMemsets() {
        CudaContext ctx = GpuSupport.context();
        int n = 1 << 20;
        try (Arena a = Arena.ofConfined();
                DeviceBuffer d1 = ctx.allocate(4L * n, CudaStream.DEFAULT);
                DeviceBuffer d2 = ctx.allocate(4L * n, CudaStream.DEFAULT);
                PinnedBuffer pin = PinnedBuffer.allocate(4L * n);
                CudaStream s = CudaStream.create()) {
            MemorySegment h = a.allocate(ValueLayout.JAVA_INT, n);
            for (int i = 0; i < n; i++) h.setAtIndex(ValueLayout.JAVA_INT, i, i * 31 + 7);
            d1.copyFromHost(h);
            CudaDriver.get().memcpyDtoDAsync(d2.address(), d1.address(), 4L * n, s.handle());
            d2.copyToHostAsync(pin.segment(), s);
            s.synchronize();
            assertThat(pin.segment().mismatch(h)).isEqualTo(-1);
            d2.fill32(0x7FC00000, s);
            d2.copyToHostAsync(pin.segment(), s);
            s.synchronize();
            assertThat(Float.isNaN(pin.segment().getAtIndex(ValueLayout.JAVA_FLOAT, n - 1)))
                    .isTrue();
        }
    }

    @Test
    void errorsNameTheCallAndTheDriversText() {
        GpuSupport.context();
        assertThatThrownBy(() -> CudaDriver.get().memAlloc(1L << 50))
                .isInstanceOf(CudaException.class)
                .hasMessageContaining("cuMemAlloc")
                .hasMessageContaining("CUDA_ERROR_OUT_OF_MEMORY");
    }

    @Test
    void compilesLaunchesAndChecksArguments(@TempDir Path tmp) throws Exception {
        CudaContext ctx = GpuSupport.contextWithNvrtc();
        KernelModule m = KernelModule.fromSource(ctx, "axpy.cu", AXPY + "// " + System.nanoTime(), Map.of(), List.of());
        Kernel k = m.kernel("axpy");
        int n = 100_000;
        float[] x = new float[n], y = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = i % 101;
            y[i] = 1;
        }
        try (DeviceBuffer dx = GpuSupport.uploadF32(ctx, x);
                DeviceBuffer dy = GpuSupport.uploadF32(ctx, y);
                CudaStream s = CudaStream.create()) {
            k.launch(s, (n + 255) / 256, 1, 1, 256, 0, 2f, dx, dy, n);
            s.synchronize();
            float[] out = GpuSupport.downloadF32(dy, n);
            for (int i = 0; i < n; i += 997) assertThat(out[i]).isEqualTo(2f * (i % 101) + 1);
            // wrong count and wrong kinds are caught before the driver sees them
            assertThatThrownBy(() -> k.launch(s, 1, 1, 1, 32, 0, 2f, dx, dy))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("takes 4 arguments, got 3");
            assertThatThrownBy(() -> k.launch(s, 1, 1, 1, 32, 0, 2, dx, dy, n))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("(float a) needs a Float");
            assertThat(k.registers()).isPositive();
            assertThat(k.localBytes()).isZero();
            // graph capture and replay: 10 launches in one graph
            try (CudaGraph g = CudaGraph.capture(s, () -> {
                for (int i = 0; i < 10; i++) k.launch(s, (n + 255) / 256, 1, 1, 256, 0, 1f, dx, dy, n);
            })) {
                g.launch(s);
                g.launch(s);
                s.synchronize();
            }
            float[] out2 = GpuSupport.downloadF32(dy, n);
            for (int i = 0; i < n; i += 997) assertThat(out2[i]).isEqualTo(2f * (i % 101) + 1 + 20f * (i % 101));
            // events time work on the stream
            try (CudaEvent e0 = CudaEvent.create();
                    CudaEvent e1 = CudaEvent.create()) {
                e0.record(s);
                for (int i = 0; i < 100; i++) k.launch(s, (n + 255) / 256, 1, 1, 256, 0, 0f, dx, dy, n);
                e1.record(s);
                e1.synchronize();
                assertThat(e1.elapsedSince(e0)).isPositive();
            }
        }
        m.close();
    }

    @Test
    void kernelCacheHitsAndRebuildsACorruptEntry() throws Exception {
        CudaContext ctx = GpuSupport.contextWithNvrtc();
        String src = AXPY + "// cache test " + System.nanoTime();
        KernelModule a = KernelModule.fromSource(ctx, "axpy.cu", src, Map.of("UNUSED", "1"), List.of());
        assertThat(a.fromCache()).isFalse();
        a.close();
        KernelModule b = KernelModule.fromSource(ctx, "axpy.cu", src, Map.of("UNUSED", "1"), List.of());
        assertThat(b.fromCache()).isTrue();
        b.close();
        // corrupt every entry of this source: the next load recompiles
        try (var files = Files.list(ctx.kernelCache().dir())) {
            for (Path p : files.toList()) {
                if (Files.getLastModifiedTime(p).toMillis() > System.currentTimeMillis() - 60_000) {
                    byte[] raw = Files.readAllBytes(p);
                    raw[raw.length / 2] ^= 1;
                    Files.write(p, raw);
                }
            }
        }
        KernelModule c = KernelModule.fromSource(ctx, "axpy.cu", src, Map.of("UNUSED", "1"), List.of());
        assertThat(c.fromCache()).isFalse();
        assertThat(c.kernel("axpy").registers()).isPositive();
        c.close();
    }

    @Test
    void allocatorReusesAcrossSteps() {
        CudaContext ctx = GpuSupport.context();
        CachingAllocator.Report before = ctx.allocator().report();
        for (int step = 0; step < 5; step++) {
            try (CudaStream s = CudaStream.create()) {
                DeviceBuffer a = ctx.allocate(3_000_000, s), b = ctx.allocate(123_456, s);
                a.close();
                b.close();
                s.synchronize();
            }
        }
        CachingAllocator.Report after = ctx.allocator().report();
        System.out.println("allocator: " + after);
        assertThat(after.driverAllocs() - before.driverAllocs()).isLessThanOrEqualTo(2);
        assertThat(after.requests() - before.requests()).isEqualTo(10);
    }
}
