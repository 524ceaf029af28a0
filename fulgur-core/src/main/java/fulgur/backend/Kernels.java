package fulgur.backend;

import fulgur.tensor.Device;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The kernel registry: (family interface, device) → the device's implementation of that family's kernels.
 *
 * <p>An op family (lightning attention, GLA, LightNet, LCSM, softmax attention, MoE, ...) declares its kernel
 * interface next to its forms, in {@code fulgur.ops.<family>}; device modules register implementations through
 * {@link KernelProvider} services; an op looks its kernel up with {@link #find}. One rule for every family: where
 * {@link #find} gives null (the device has no kernel registered), the op runs the family's composed form, built from
 * {@link Backend} methods, so every op runs on every device. Adding a device or a kernel never edits this class, the
 * {@link Backend} interface or the ops.
 *
 * <pre>{@code
 *   LightningKernels k = Kernels.find(LightningKernels.class, q.device());
 *   Tensor packed = k != null ? k.forward(...) : composed(...);
 * }</pre>
 */
public final class Kernels {
    private static final Object NONE = new Object();
    private static final Map<Key, Object> INSTANCES = new ConcurrentHashMap<>();
    private static final ThreadLocal<Map<Class<?>, Object>> OVERRIDES = ThreadLocal.withInitial(HashMap::new);

    private record Key(Class<?> family, Device device) {}

    private Kernels() {}

    /** The providers' registrations, loaded once. */
    private static final class Registry {
        static final Map<Class<?>, Map<Device.Kind, Function<Device, ?>>> FACTORIES = load();

        private static Map<Class<?>, Map<Device.Kind, Function<Device, ?>>> load() {
            Map<Class<?>, Map<Device.Kind, Function<Device, ?>>> all = new LinkedHashMap<>();
            Map<Class<?>, Map<Device.Kind, String>> by = new HashMap<>();
            for (KernelProvider p : ServiceLoader.load(KernelProvider.class)) {
                p.register(new KernelProvider.Registrar() {
                    @Override
                    public <K> void add(Class<K> family, Device.Kind kind, Function<Device, ? extends K> factory) {
                        if (!family.isInterface()) {
                            throw new IllegalStateException(p.getClass().getName() + " registers " + family.getName()
                                    + ", which is not a kernel interface");
                        }
                        String earlier = by.computeIfAbsent(family, f -> new HashMap<>())
                                .putIfAbsent(kind, p.getClass().getName());
                        if (earlier != null) {
                            throw new IllegalStateException("both " + earlier + " and "
                                    + p.getClass().getName() + " register " + family.getSimpleName() + " for "
                                    + kind.name().toLowerCase(java.util.Locale.ROOT) + " devices");
                        }
                        all.computeIfAbsent(family, f -> new LinkedHashMap<>()).put(kind, factory);
                    }
                });
            }
            return Collections.unmodifiableMap(all);
        }
    }

    /** The system property naming families whose kernels are not used: simple interface names, comma-separated. */
    public static final String OFF_PROPERTY = "fulgur.kernels.off";

    /**
     * The families that are off unless {@link #OFF_PROPERTY} says otherwise ({@code -Dfulgur.kernels.off=} turns every
     * kernel on): fused kernels not yet measured faster than the composed form in a whole training step. None at
     * present.
     */
    public static final String OFF_BY_DEFAULT = "";

    private record Off(String spec, Set<String> names) {}

    private static volatile Off off = new Off("", Set.of());

    /** The families {@link #OFF_PROPERTY} turns off now (read again whenever the property changes). */
    private static Set<String> turnedOff() {
        String spec = System.getProperty(OFF_PROPERTY, OFF_BY_DEFAULT);
        Off o = off;
        if (!o.spec().equals(spec)) {
            Set<String> names = new java.util.HashSet<>();
            for (String n : spec.split(",")) if (!n.isBlank()) names.add(n.strip());
            off = o = new Off(spec, Set.copyOf(names));
        }
        return o.names();
    }

    /**
     * The kernels of {@code family} on {@code device}, or null when none is registered for its kind, or when
     * {@code -Dfulgur.kernels.off} names the family (e.g. {@code -Dfulgur.kernels.off=GluKernels} to compare a fused
     * kernel with the composed form in a whole model; without the property, {@link #OFF_BY_DEFAULT}); the caller then
     * runs the family's composed form. A scope of {@link #use} on this thread takes precedence.
     */
    public static <K> K find(Class<K> family, Device device) {
        Map<Class<?>, Object> over = OVERRIDES.get();
        if (!over.isEmpty() && over.containsKey(family)) {
            Object k = over.get(family);
            return k == NONE ? null : family.cast(k);
        }
        Map<Device.Kind, Function<Device, ?>> kinds = Registry.FACTORIES.get(family);
        if (kinds == null || !kinds.containsKey(device.kind()) || turnedOff().contains(family.getSimpleName())) {
            return null;
        }
        Object k = INSTANCES.computeIfAbsent(new Key(family, device), key -> {
            Object made = kinds.get(device.kind()).apply(device);
            if (made == null) {
                throw new IllegalStateException(
                        "the " + family.getSimpleName() + " factory for " + device + " returned null");
            }
            return made;
        });
        return family.cast(k);
    }

    /** The device kinds that have kernels of {@code family} registered (empty when none). */
    public static Set<Device.Kind> kinds(Class<?> family) {
        Map<Device.Kind, Function<Device, ?>> kinds = Registry.FACTORIES.get(family);
        return kinds == null ? Set.of() : Collections.unmodifiableSet(EnumSet.copyOf(kinds.keySet()));
    }

    /** Every registered family with the device kinds that have its kernels, in registration order. */
    public static Map<Class<?>, Set<Device.Kind>> registered() {
        Map<Class<?>, Set<Device.Kind>> out = new LinkedHashMap<>();
        Registry.FACTORIES.keySet().forEach(f -> out.put(f, kinds(f)));
        return Collections.unmodifiableMap(out);
    }

    /**
     * Makes {@link #find} answer {@code kernel} for {@code family} on this thread, on every device, until the returned
     * scope closes; {@code kernel} null hides the registered kernels, so the composed form runs. For comparing a kernel
     * with the composed form (tests, benchmarks) and for trying a kernel before it is registered.
     */
    public static <K> Use use(Class<K> family, K kernel) {
        Map<Class<?>, Object> over = OVERRIDES.get();
        boolean had = over.containsKey(family);
        Object before = over.get(family);
        over.put(family, kernel == null ? NONE : kernel);
        return () -> {
            if (had) {
                over.put(family, before);
            } else {
                over.remove(family);
            }
        };
    }

    /** The scope of {@link #use}; closing it restores what {@link #find} answered before. */
    public interface Use extends AutoCloseable {
        @Override
        void close();
    }
}
