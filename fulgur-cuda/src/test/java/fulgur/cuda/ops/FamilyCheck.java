package fulgur.cuda.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.Kernels;
import fulgur.cuda.BackendCheck;
import fulgur.ops.Elementwise;
import fulgur.ops.Reductions;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * Helpers of the op-family tests that go through the kernel registry: one op run (outputs and the gradients of a fixed
 * random weighting of them with respect to every input) on a device, the same run with the family's kernel hidden
 * (the composed form), comparisons by relative L2 error, and a count of the calls that reach a family's kernels.
 */
public final class FamilyCheck {
    private FamilyCheck() {}

    /** What one run gives: each output's values, then each input's gradient (zeros where none arrived). */
    public record Result(List<double[]> outputs, List<double[]> grads) {}

    /**
     * Runs {@code op} on {@code inputs} (CPU tensors; null stays null) copied to {@code device}, each floating input
     * converted to {@code dtypes[i]} (null: keep) and requiring gradients; the loss is Σ_j Σ outputs_j ⊙ w_j with w_j
     * N(0, 1) from {@code seed}, rounded to bf16.
     */
    public static Result run(
            Device device, DType[] dtypes, Function<Tensor[], Tensor[]> op, long seed, Tensor... inputs) {
        Tensor[] in = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            if (inputs[i] == null) continue;
            Tensor t = inputs[i];
            if (dtypes != null && dtypes[i] != null) t = t.to(dtypes[i]);
            t = t.to(device).detach();
            in[i] = t.dtype().isFloating() ? t.requiresGrad(true) : t;
        }
        Tensor[] out = op.apply(in);
        Rng r = new Rng(seed);
        Tensor loss = null;
        List<double[]> values = new ArrayList<>();
        for (Tensor o : out) {
            if (o == null) continue;
            values.add(o.toDoubleArray());
            // bf16-representable weights: the same loss whatever the output's dtype
            Tensor w = r.normal(DType.F32, 0, 1, o.shape())
                    .to(DType.BF16)
                    .to(o.dtype())
                    .to(device);
            Tensor term = Reductions.sum(Elementwise.mul(o, w)).to(DType.F32);
            loss = loss == null ? term : Elementwise.add(loss, term);
        }
        loss.backward();
        List<double[]> grads = new ArrayList<>();
        for (Tensor t : in) {
            if (t == null || !t.dtype().isFloating()) continue;
            grads.add(t.grad() == null ? new double[(int) t.numel()] : t.grad().toDoubleArray());
        }
        return new Result(values, grads);
    }

    /** {@link #run} with the kernels of {@code family} hidden: the composed form. */
    public static Result composed(
            Class<?> family,
            Device device,
            DType[] dtypes,
            Function<Tensor[], Tensor[]> op,
            long seed,
            Tensor... inputs) {
        try (var none = Kernels.use(family, null)) {
            return run(device, dtypes, op, seed, inputs);
        }
    }

    /** Asserts every output and gradient of {@code got} within {@code tolOut} / {@code tolGrad} of {@code ref} (relative L2). */
    public static void assertClose(
            String what, Result got, Result ref, double tolOut, double tolGrad, String[] outNames, String[] gradNames) {
        StringBuilder report = new StringBuilder(what);
        List<Runnable> checks = new ArrayList<>();
        for (int i = 0; i < ref.outputs().size(); i++) {
            double e = BackendCheck.relErr(got.outputs().get(i), ref.outputs().get(i));
            String name = outNames[i];
            report.append(String.format(Locale.ROOT, "  %s %.2e", name, e));
            checks.add(() -> assertThat(e).as(what + " " + name).isLessThanOrEqualTo(tolOut));
        }
        for (int i = 0; i < ref.grads().size(); i++) {
            double e = BackendCheck.relErr(got.grads().get(i), ref.grads().get(i));
            String name = "d" + gradNames[i];
            report.append(String.format(Locale.ROOT, "  %s %.2e", name, e));
            checks.add(() -> assertThat(e).as(what + " " + name).isLessThanOrEqualTo(tolGrad));
        }
        System.out.println(report);
        checks.forEach(Runnable::run);
    }

    /** Calls to the registered kernels of some families on one device, by "Family.method". */
    public static final class Calls implements AutoCloseable {
        private final Map<String, Integer> counts = new ConcurrentHashMap<>();
        private final List<Kernels.Use> uses = new ArrayList<>();

        /** Counts the calls to the kernels {@code device} has registered for each of {@code families} until closed. */
        public static Calls on(Device device, Class<?>... families) {
            Calls c = new Calls();
            for (Class<?> f : families) c.wrap(f, device);
            return c;
        }

        /** Counts the calls to every family the device has kernels of. */
        public static Calls everyFamily(Device device) {
            Calls c = new Calls();
            for (Class<?> f : Kernels.registered().keySet()) {
                if (Kernels.kinds(f).contains(device.kind())) c.wrap(f, device);
            }
            return c;
        }

        private <K> void wrap(Class<K> family, Device device) {
            K real = Kernels.find(family, device);
            assertThat(real).as(family.getSimpleName() + " on " + device).isNotNull();
            Object proxy = Proxy.newProxyInstance(family.getClassLoader(), new Class<?>[] {family}, (p, m, args) -> {
                if (m.getDeclaringClass() == Object.class) return m.invoke(real, args);
                Object r;
                try {
                    r = m.invoke(real, args);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
                if (!(r instanceof Boolean b && !b))
                    counts.merge(family.getSimpleName() + "." + m.getName(), 1, Integer::sum);
                return r;
            });
            uses.add(Kernels.use(family, family.cast(proxy)));
        }

        /** How often {@code Family.method} ran (a supports call that said no is not counted). */
        public int count(String familyDotMethod) {
            return counts.getOrDefault(familyDotMethod, 0);
        }

        public Map<String, Integer> all() {
            return Map.copyOf(counts);
        }

        @Override
        public void close() {
            for (int i = uses.size() - 1; i >= 0; i--) uses.get(i).close();
        }
    }
}
