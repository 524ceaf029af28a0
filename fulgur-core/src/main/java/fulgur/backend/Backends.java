package fulgur.backend;

import fulgur.backend.cpu.CpuBackend;
import fulgur.tensor.Device;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;

/** Finds the backend of a device: the CPU one built in, others through {@link BackendProvider} services. */
public final class Backends {
    private static final Map<Device, Backend> CACHE = new ConcurrentHashMap<>();

    private Backends() {}

    public static Backend of(Device device) {
        if (device.kind() == Device.Kind.CPU) {
            return CpuBackend.INSTANCE;
        }
        return CACHE.computeIfAbsent(device, d -> {
            for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
                if (p.kind() == d.kind()) {
                    return p.create(d);
                }
            }
            throw new IllegalStateException("no backend for device " + d + " on the class path (is fulgur-cuda present?)");
        });
    }
}
