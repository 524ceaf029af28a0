package fulgur.cuda;

import fulgur.backend.Backend;
import fulgur.backend.BackendProvider;
import fulgur.backend.DeviceRuntime;
import fulgur.tensor.Device;

/**
 * Registers {@link CudaBackend} and {@link CudaRuntime} for {@code Device.Kind.CUDA}
 * (META-INF/services/fulgur.backend.BackendProvider).
 */
public final class CudaBackendProvider implements BackendProvider {
    /** The service instance that {@link fulgur.backend.Backends} loads. */
    public CudaBackendProvider() {}

    @Override
    public Device.Kind kind() {
        return Device.Kind.CUDA;
    }

    @Override
    public Backend create(Device device) {
        if (!CudaContext.isAvailable()) {
            throw new IllegalStateException(
                    "no CUDA driver or device for " + device + " (is libcuda.so.1 present? set FULGUR_LIBCUDA)");
        }
        return new CudaBackend(device);
    }

    @Override
    public DeviceRuntime runtime(Device device) {
        return new CudaRuntime(CudaBackend.of(device));
    }
}
