package fulgur.backend;

import fulgur.tensor.Device;
import java.util.function.Function;

/**
 * A service (listed in {@code META-INF/services/fulgur.backend.KernelProvider}) through which a device module
 * registers its kernels of op families with {@link Kernels}. fulgur-core lists one for its CPU kernels, fulgur-cuda
 * one for its CUDA kernels. A new kernel is one line in {@link #register}:
 * <pre>{@code
 *   r.add(GlaKernels.class, Device.Kind.CUDA, device -> new CudaGla(CudaBackend.of(device)));
 * }</pre>
 */
public interface KernelProvider {

    /** Adds this module's kernels. Called once, when {@link Kernels} is first used; must not run any kernel. */
    void register(Registrar registrar);

    /** What {@link #register} adds kernels to. */
    interface Registrar {
        /**
         * Registers the kernels of {@code family} (a family's kernel interface, e.g. {@code LightningKernels}) on every
         * device of {@code kind}: {@code factory} makes the implementation of one device, once, at its first lookup.
         * Two registrations of one (family, kind) are an error.
         */
        <K> void add(Class<K> family, Device.Kind kind, Function<Device, ? extends K> factory);
    }
}
