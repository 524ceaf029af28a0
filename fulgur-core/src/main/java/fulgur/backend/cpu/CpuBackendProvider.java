package fulgur.backend.cpu;

import fulgur.backend.Backend;
import fulgur.backend.BackendProvider;
import fulgur.backend.DeviceRuntime;
import fulgur.tensor.Device;

/** The CPU's {@link BackendProvider} service. */
public final class CpuBackendProvider implements BackendProvider {
    @Override
    public Device.Kind kind() {
        return Device.Kind.CPU;
    }

    @Override
    public Backend create(Device device) {
        return CpuBackend.INSTANCE;
    }

    @Override
    public DeviceRuntime runtime(Device device) {
        return CpuRuntime.INSTANCE;
    }
}
