package fulgur.backend;

import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Finds the {@link Backend} and the {@link DeviceRuntime} of a device through {@link BackendProvider} services: the CPU's
 * in fulgur-core, CUDA's in fulgur-cuda.
 */
public final class Backends {
    private static final Map<Device, Backend> BACKENDS = new ConcurrentHashMap<>();
    private static final Map<Device, DeviceRuntime> RUNTIMES = new ConcurrentHashMap<>();

    private Backends() {}

    public static Backend of(Device device) {
        Backend b = BACKENDS.get(device);
        return b != null ? b : BACKENDS.computeIfAbsent(device, d -> provider(d).create(d));
    }

    /** The backend of the device that holds {@code t}. */
    public static Backend of(Tensor t) {
        return of(t.device());
    }

    public static DeviceRuntime runtime(Device device) {
        DeviceRuntime r = RUNTIMES.get(device);
        return r != null ? r : RUNTIMES.computeIfAbsent(device, d -> provider(d).runtime(d));
    }

    private static final class Providers {
        static final Map<Device.Kind, BackendProvider> BY_KIND = load();

        private static Map<Device.Kind, BackendProvider> load() {
            Map<Device.Kind, BackendProvider> m = new ConcurrentHashMap<>();
            for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
                m.putIfAbsent(p.kind(), p);
            }
            return m;
        }
    }

    private static BackendProvider provider(Device d) {
        BackendProvider p = Providers.BY_KIND.get(d.kind());
        if (p == null) {
            throw new IllegalStateException("no backend for device " + d + " on the class path"
                    + (d.kind() == Device.Kind.CPU ? "" : " (is fulgur-cuda present?)"));
        }
        return p;
    }
}
