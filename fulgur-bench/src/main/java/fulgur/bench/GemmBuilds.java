package fulgur.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Two builds of fulgur-core's f32 GEMM in one JVM, each in its own class loader (so each has its own kernels and
 * thread pool), called in turn A, B, B, A, A, B, ... on the same operands: on a machine shared with other work,
 * whose speed changes from one second to the next, the ratio of the two medians is what a change to the GEMM is
 * worth, where two separate runs would differ by more than the change. {@code scripts/gemm-compare-builds.sh REV}
 * builds a git revision and compares it with the working tree. A build may be followed by {@code @key=value,...}:
 * system properties set while its GEMM classes initialise (the blocking is read then), so one build can be set
 * against itself, e.g. {@code classes@fulgur.gemm.mb=128 classes}.
 *
 * <pre>java fulgur.bench.GemmBuilds CLASSES_A[@k=v,...] CLASSES_B[@k=v,...] [--calls N] [MxNxK[:NN|NT|TN|TT] ...]</pre>
 */
final class GemmBuilds {
    private GemmBuilds() {}

    private static final MethodType SGEMM = MethodType.methodType(
            void.class,
            boolean.class,
            boolean.class,
            int.class,
            int.class,
            int.class,
            float.class,
            MemorySegment.class,
            long.class,
            int.class,
            MemorySegment.class,
            long.class,
            int.class,
            float.class,
            MemorySegment.class,
            long.class,
            int.class);

    public static void main(String[] args) throws Throwable {
        try {
            run(args);
        } catch (IllegalArgumentException e) {
            System.err.println("GemmBuilds: " + e.getMessage());
            System.exit(2);
        }
        System.exit(0); // the builds' pool threads
    }

    private static void run(String[] args) throws Throwable {
        if (args.length < 2) {
            throw new IllegalArgumentException(
                    "usage: GemmBuilds CLASSES_A[@k=v,...] CLASSES_B[@k=v,...] [--calls N] [MxNxK[:NN|NT|TN|TT] ...]");
        }
        MethodHandle a = sgemm(args[0]), b = sgemm(args[1]);
        int calls = 40;
        List<GemmQuick.Shape> shapes = new ArrayList<>();
        for (int i = 2; i < args.length; i++) {
            if (args[i].equals("--calls")) {
                calls = i + 1 < args.length && args[i + 1].matches("[1-9][0-9]{0,5}") ? Integer.parseInt(args[++i]) : 0;
                if (calls == 0) {
                    throw new IllegalArgumentException("--calls takes a positive count");
                }
            } else {
                shapes.add(GemmQuick.Shape.parse(args[i]));
            }
        }
        if (shapes.isEmpty()) {
            shapes = GemmQuick.SHAPES;
        }
        System.out.println("size\tA GFLOP/s (median)\tB GFLOP/s (median)\tB / A");
        // shared memory: the GEMM hands confined segments to no other thread
        try (Arena arena = Arena.ofShared()) {
            for (GemmQuick.Shape s : shapes) {
                double[] med = compare(arena, s, a, b, calls, 3_000_000_000L);
                System.out.printf(Locale.ROOT, "%s\t%.1f\t%.1f\t%.3f%n", s, med[0], med[1], med[1] / med[0]);
            }
        }
    }

    /**
     * {@code Gemm.sgemm} of the build {@code spec}: a directory or jar of fulgur-core's classes, optionally followed by
     * {@code @key=value,...}, system properties in force while the build's GEMM classes initialise.
     */
    static MethodHandle sgemm(String spec) throws ReflectiveOperationException, MalformedURLException {
        int at = spec.indexOf('@');
        if (at < 0) {
            return sgemm(Path.of(spec));
        }
        Map<String, String> saved = new HashMap<>();
        for (String kv : spec.substring(at + 1).split(",")) {
            int eq = kv.indexOf('=');
            if (eq < 1) {
                throw new IllegalArgumentException("a build's settings are @key=value,...; got '" + kv + "'");
            }
            String key = kv.substring(0, eq);
            saved.put(key, System.getProperty(key));
            System.setProperty(key, kv.substring(eq + 1));
        }
        try {
            return sgemm(Path.of(spec.substring(0, at)));
        } finally {
            saved.forEach((key, old) -> {
                if (old == null) {
                    System.clearProperty(key);
                } else {
                    System.setProperty(key, old);
                }
            });
        }
    }

    /** {@code Gemm.sgemm} of the build whose classes lie in {@code classes} (a directory or a jar). */
    static MethodHandle sgemm(Path classes) throws ReflectiveOperationException, MalformedURLException {
        boolean jar = Files.isRegularFile(classes) && classes.toString().endsWith(".jar");
        if (!jar && !Files.isDirectory(classes.resolve("fulgur/backend/cpu"))) {
            throw new IllegalArgumentException("no fulgur-core classes in " + classes);
        }
        ClassLoader loader =
                new URLClassLoader(new URL[] {classes.toUri().toURL()}, ClassLoader.getPlatformClassLoader());
        Class<?> gemm = Class.forName("fulgur.backend.cpu.Gemm", true, loader);
        try {
            Class.forName("fulgur.backend.cpu.GemmF32", true, loader); // reads its blocking now, under the settings
        } catch (ClassNotFoundException older) {
            // a build from before the engine had that class: nothing to initialise early
        }
        return MethodHandles.publicLookup().findStatic(gemm, "sgemm", SGEMM);
    }

    /** Medians of GFLOP/s for A and B over {@code calls} calls each, after {@code warmNanos} of both in turn. */
    static double[] compare(Arena arena, GemmQuick.Shape s, MethodHandle a, MethodHandle b, int calls, long warmNanos)
            throws Throwable {
        int m = s.m(), n = s.n(), k = s.k();
        MemorySegment x = filled(arena, (long) m * k), y = filled(arena, (long) k * n);
        MemorySegment c = arena.allocate((long) m * n * Float.BYTES, 64);
        int lda = s.transA() ? m : k, ldb = s.transB() ? k : n;
        MethodHandle[] builds = {a, b};
        long warm = System.nanoTime() + warmNanos;
        do {
            for (MethodHandle h : builds) {
                h.invokeExact(s.transA(), s.transB(), m, n, k, 1f, x, 0L, lda, y, 0L, ldb, 0f, c, 0L, n);
            }
        } while (System.nanoTime() < warm);
        List<List<Double>> rates = List.of(new ArrayList<>(), new ArrayList<>());
        for (int r = 0; r < 2 * calls; r++) {
            int which = (r + r / 2) % 2; // A B B A A B B A ...: neither always goes first
            long t0 = System.nanoTime();
            builds[which].invokeExact(s.transA(), s.transB(), m, n, k, 1f, x, 0L, lda, y, 0L, ldb, 0f, c, 0L, n);
            rates.get(which).add(s.flops() / (System.nanoTime() - t0));
        }
        double[] med = new double[2];
        for (int i = 0; i < 2; i++) {
            List<Double> v = rates.get(i);
            Collections.sort(v);
            med[i] = v.get(v.size() / 2);
        }
        return med;
    }

    private static MemorySegment filled(Arena arena, long count) {
        MemorySegment seg = arena.allocate(count * Float.BYTES, 64);
        for (long i = 0; i < count; i++) {
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 13) * 0.01f);
        }
        return seg;
    }
}
