package fulgur.backend;

import fulgur.tensor.Device;

/** A service that creates the backend and the runtime of a device kind (registered in META-INF/services). */
public interface BackendProvider {
    Device.Kind kind();

    Backend create(Device device);

    DeviceRuntime runtime(Device device);
}
