package fulgur.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.ops.GluKernels;
import fulgur.ops.adamw.AdamWKernels;
import fulgur.ops.attention.AttentionKernels;
import fulgur.ops.attention.PagedAttentionKernels;
import fulgur.ops.gla.GlaIntraKernels;
import fulgur.ops.gla.GlaKernels;
import fulgur.ops.lcsm.LcsmKernels;
import fulgur.ops.lightnet.LightNetKernels;
import fulgur.ops.lightning.LightningCpu;
import fulgur.ops.lightning.LightningKernels;
import fulgur.tensor.Device;
import fulgur.tensor.HostAllocator;
import fulgur.tensor.Tensor;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The seam between ops and devices: a small Backend, a separate runtime, and the kernel registry's one rule. */
class BackendSeamTest {

    private static final Device CUDA = Device.cuda(0);

    @Test
    void backendHasAtMost25MethodsAndNoFamilyOrRuntimeMethods() {
        Method[] methods = Arrays.stream(Backend.class.getDeclaredMethods())
                .filter(m -> !m.isSynthetic())
                .toArray(Method[]::new);
        assertThat(methods).hasSizeLessThanOrEqualTo(25);
        for (Method m : methods) {
            String n = m.getName().toLowerCase(Locale.ROOT);
            assertThat(n)
                    .as(m.toString())
                    .doesNotContain(
                            "lightning", "lightnet", "gla", "lcsm", "adamw", "capture", "defer", "peak", "silu");
        }
    }

    @Test
    void theCpuRuntimeReportsTheHostAllocatorAndCannotCapture() {
        DeviceRuntime rt = Backends.runtime(Device.CPU);
        assertThat(rt.device()).isEqualTo(Device.CPU);
        assertThat(rt.deferChecks()).isSameAs(DeferredChecks.NONE);
        rt.resetPeakMemory();
        try (Tensor t = Tensor.zeros(1 << 16)) {
            assertThat(rt.peakMemoryBytes())
                    .isEqualTo(HostAllocator.peakBytesInUse())
                    .isGreaterThanOrEqualTo(4L << 16);
        }
        assertThatThrownBy(() -> rt.capture(() -> {}))
                .isInstanceOf(UnsupportedOperationException.class)
                .hasMessageContaining("cpu");
        assertThat(Backends.runtime(Device.CPU)).isSameAs(rt);
    }

    @Test
    void coreRegistersItsCpuKernelsThroughTheSameServiceAsDeviceModules() {
        for (Class<?> f : new Class<?>[] {
            LightningKernels.class,
            GlaIntraKernels.class,
            LightNetKernels.class,
            LcsmKernels.class,
            AttentionKernels.class,
            PagedAttentionKernels.class,
            AdamWKernels.class
        }) {
            assertThat(Kernels.kinds(f)).as(f.getSimpleName()).contains(Device.Kind.CPU);
            assertThat(Kernels.registered()).containsKey(f);
        }
        for (Class<?> f : new Class<?>[] {GlaKernels.class, GluKernels.class}) {
            assertThat(Kernels.kinds(f)).as(f.getSimpleName()).doesNotContain(Device.Kind.CPU);
        }
        assertThat(Kernels.find(LightningKernels.class, Device.CPU))
                .isSameAs(LightningCpu.INSTANCE)
                .isSameAs(Kernels.find(LightningKernels.class, Device.CPU));
    }

    @Test
    void aDeviceWithoutARegisteredKernelGetsNullSoTheComposedFormRuns() {
        // fulgur-cuda is not on fulgur-core's class path: no CUDA kernel is registered here
        assertThat(Kernels.kinds(LightningKernels.class)).isEqualTo(Set.of(Device.Kind.CPU));
        assertThat(Kernels.find(LightningKernels.class, CUDA)).isNull();
        assertThat(Kernels.find(GlaKernels.class, Device.CPU)).isNull();
        assertThat(Kernels.kinds(Runnable.class)).isEmpty();
    }

    @Test
    void useStandsInForTheRegisteredKernelOnThisThreadAndNests() throws Exception {
        GluKernels fake = new GluKernels() {
            @Override
            public Tensor siluMul(Tensor gate, Tensor up) {
                return gate;
            }

            @Override
            public Tensor[] siluMulBackward(Tensor gate, Tensor up, Tensor dy) {
                return new Tensor[] {dy, dy};
            }
        };
        try (var a = Kernels.use(GluKernels.class, fake)) {
            assertThat(Kernels.find(GluKernels.class, Device.CPU)).isSameAs(fake);
            assertThat(Kernels.find(GluKernels.class, CUDA)).isSameAs(fake);
            try (var b = Kernels.use(GluKernels.class, null)) {
                assertThat(Kernels.find(GluKernels.class, Device.CPU)).isNull();
                try (var c = Kernels.use(LightningKernels.class, null)) {
                    assertThat(Kernels.find(LightningKernels.class, Device.CPU)).isNull();
                }
                assertThat(Kernels.find(LightningKernels.class, Device.CPU)).isSameAs(LightningCpu.INSTANCE);
            }
            assertThat(Kernels.find(GluKernels.class, Device.CPU)).isSameAs(fake);
            AtomicReference<Object> seen = new AtomicReference<>(fake);
            Thread other = new Thread(() -> seen.set(Kernels.find(GluKernels.class, Device.CPU)));
            other.start();
            other.join();
            assertThat(seen.get()).isNull();
        }
        assertThat(Kernels.find(GluKernels.class, Device.CPU)).isNull();
    }
}
