package fulgur.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Quick, non-JMH measurements for {@code fulgur bench}: each registered name runs in seconds, in this JVM, and
 * returns its figures as {@link BenchResult}s (warm-up excluded, a median of several repetitions, and where it
 * means something the fraction of the machine's peak measured in the same run).
 *
 * <p>To add a benchmark, add one line to the registry below ({@code register("softmax", SoftmaxQuick::run)}).
 * <p>Command line: {@code java --add-modules jdk.incubator.vector -cp fulgur-bench/target/benchmarks.jar
 * fulgur.bench.QuickBench [name...]} prints one JSON line per result (all benchmarks without arguments).
 */
public final class QuickBench {

    private static final Map<String, Supplier<List<BenchResult>>> REGISTRY = new LinkedHashMap<>();

    static {
        register("peak", QuickBench::peak);
        register("gemm", GemmQuick::run);
        register("gemv", GemvQuick::run);
        register("elementwise", ElementwiseQuick::elementwise);
        register("softmax", ElementwiseQuick::softmax);
        register("lightning", LightningQuick::run);
        register("finite", ElementwiseQuick::finite);
        register("serve", ServeLoad::run);
    }

    private QuickBench() {}

    /** Adds (or replaces) a named benchmark. */
    public static synchronized void register(String name, Supplier<List<BenchResult>> benchmark) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("benchmark name must not be blank");
        }
        REGISTRY.put(name, java.util.Objects.requireNonNull(benchmark, "benchmark"));
    }

    /** The names {@link #run} accepts, in registration order. */
    public static synchronized Set<String> names() {
        return Collections.unmodifiableSet(new java.util.LinkedHashSet<>(REGISTRY.keySet()));
    }

    /** Runs the named benchmark; an unknown name raises {@link IllegalArgumentException} listing the known ones. */
    public static List<BenchResult> run(String name) {
        Supplier<List<BenchResult>> benchmark;
        synchronized (QuickBench.class) {
            benchmark = REGISTRY.get(name);
        }
        if (benchmark == null) {
            throw new IllegalArgumentException(
                    "unknown benchmark '" + name + "'; known: " + String.join(", ", names()));
        }
        return List.copyOf(benchmark.get());
    }

    /** {@code peak}: the f32 FMA peak of all threads and of one thread. */
    static List<BenchResult> peak() {
        double all = FmaPeak.gflops(10);
        double one = FmaPeak.gflopsOneThread(10);
        List<BenchResult> out = new ArrayList<>();
        out.add(new BenchResult(
                "peak", "fma_peak", all, "GFLOP/s", Machine.describe(Map.of("runs", 10, "best_of", true))));
        out.add(new BenchResult(
                "peak",
                "fma_peak_one_thread",
                one,
                "GFLOP/s",
                Machine.describe(Map.of("runs", 10, "best_of", true, "threads", 1))));
        return out;
    }

    public static void main(String[] args) {
        List<String> names = args.length == 0 ? List.copyOf(names()) : List.of(args);
        for (String name : names) {
            for (BenchResult r : run(name)) {
                System.out.println(r.toJson());
            }
        }
    }
}
