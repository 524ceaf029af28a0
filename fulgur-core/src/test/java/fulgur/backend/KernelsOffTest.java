package fulgur.backend;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.ops.adamw.AdamWKernels;
import fulgur.ops.lightning.LightningKernels;
import fulgur.tensor.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * {@code -Dfulgur.kernels.off} hides the named families' kernels (the composed form runs) and no others; without it the
 * families of {@link Kernels#OFF_BY_DEFAULT} are hidden.
 */
@ResourceLock("system-property:" + Kernels.OFF_PROPERTY)
class KernelsOffTest {

    @Test
    void namedFamiliesAreHiddenUntilThePropertyChanges() {
        assertThat(Kernels.find(LightningKernels.class, Device.CPU)).isNotNull();
        try {
            System.setProperty(Kernels.OFF_PROPERTY, " LightningKernels , SomethingElse");
            assertThat(Kernels.find(LightningKernels.class, Device.CPU)).isNull();
            assertThat(Kernels.find(AdamWKernels.class, Device.CPU)).isNotNull();
        } finally {
            System.clearProperty(Kernels.OFF_PROPERTY);
        }
        assertThat(Kernels.find(LightningKernels.class, Device.CPU)).isNotNull();
    }

    @Test
    void withoutThePropertyTheDefaultListIsOffAndAnEmptyOneTurnsEverythingOn() {
        assertThat(System.getProperty(Kernels.OFF_PROPERTY)).isNull();
        assertThat(Kernels.OFF_BY_DEFAULT).isEmpty(); // every family measured: none is held back
        assertThat(Kernels.find(AdamWKernels.class, Device.CPU)).isNotNull();
        try {
            System.setProperty(Kernels.OFF_PROPERTY, "AdamWKernels");
            assertThat(Kernels.find(AdamWKernels.class, Device.CPU)).isNull();
            System.setProperty(Kernels.OFF_PROPERTY, "");
            assertThat(Kernels.find(AdamWKernels.class, Device.CPU)).isNotNull();
        } finally {
            System.clearProperty(Kernels.OFF_PROPERTY);
        }
    }
}
