package fulgur.cuda.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cuda.BackendCheck;
import fulgur.cuda.CudaBackend;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Helpers of the op-family kernel tests: the GPU launchers' shared {@link DeviceTensors} (poisoning every output with
 * NaN), fresh never-zero random inputs, and comparisons that report each output's relative L2 error, its non-finite
 * count and the first element far from the reference.
 */
public final class ZooCheck {
    private ZooCheck() {}

    /** The CUDA backend's context and stream with output poisoning on, or a skipped test without a GPU. */
    public static DeviceTensors gpu() {
        CudaBackend b = BackendCheck.gpu();
        return DeviceTensors.of(b).poison(true);
    }

    /** U[lo, hi) values, rounded to dtype, as a CPU tensor of that dtype. */
    public static Tensor uniform(long seed, DType dtype, double lo, double hi, int... shape) {
        Tensor f = new Rng(seed).uniform(DType.F64, lo, hi, shape);
        return f.to(dtype);
    }

    /** Uniform values in ±[0.1, 1) (never near zero), rounded to dtype. */
    public static Tensor signed(long seed, DType dtype, int... shape) {
        double[] u = new Rng(seed).uniform(DType.F64, 0, 1, shape).toDoubleArray();
        for (int i = 0; i < u.length; i++) u[i] = (u[i] < 0.5 ? -1 : 1) * (0.1 + 1.8 * Math.abs(u[i] - 0.5));
        return Tensor.of(DType.F64, u, shape).to(dtype);
    }

    /** log sigmoid(x) for x uniform in [lo, hi): a log decay in (-inf, 0), rounded to dtype. */
    public static Tensor logDecay(long seed, DType dtype, double lo, double hi, int... shape) {
        double[] x = new Rng(seed).uniform(DType.F64, lo, hi, shape).toDoubleArray();
        for (int i = 0; i < x.length; i++) x[i] = -Math.log1p(Math.exp(-x[i]));
        return Tensor.of(DType.F64, x, shape).to(dtype);
    }

    public static Tensor dev(Tensor cpu) {
        return cpu.to(Device.cuda(0));
    }

    /** The folder named by {@code -Dfulgur.zoo.dump}, or null: where {@link #dump} writes. */
    public static Path dumpDir() {
        String d = System.getProperty("fulgur.zoo.dump");
        return d == null || d.isBlank() ? null : Path.of(d);
    }

    /**
     * Writes {@code name.bin} (the arrays, f64 little-endian, one after the other) and {@code name.json} (meta, then each
     * array's name and shape in that order) into {@link #dumpDir}, so that a peer can run on the same inputs and compare
     * with the same reference. Nothing happens without a dump folder.
     */
    public static void dump(
            String name, Map<String, Object> meta, Map<String, double[]> arrays, Map<String, int[]> shapes) {
        Path dir = dumpDir();
        if (dir == null) return;
        StringBuilder js = new StringBuilder("{");
        meta.forEach((k, v) ->
                js.append('"').append(k).append("\": ").append(json(v)).append(", "));
        js.append("\"arrays\": [");
        long n = 0;
        for (String k : arrays.keySet()) {
            js.append(n == 0 ? "" : ", ")
                    .append("[\"")
                    .append(k)
                    .append("\", ")
                    .append(json(shapes.get(k)))
                    .append(']');
            n += arrays.get(k).length;
        }
        js.append("]}\n");
        ByteBuffer bb = ByteBuffer.allocate(Math.toIntExact(8 * n)).order(ByteOrder.LITTLE_ENDIAN);
        for (double[] a : arrays.values()) for (double x : a) bb.putDouble(x);
        try {
            Files.createDirectories(dir);
            Files.write(dir.resolve(name + ".bin"), bb.array());
            Files.writeString(dir.resolve(name + ".json"), js);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String json(Object v) {
        if (v == null) return "null";
        if (v instanceof String s) return '"' + s + '"';
        if (v instanceof int[] a) return Arrays.toString(a);
        if (v instanceof Map<?, ?> m) {
            StringBuilder sb = new StringBuilder("{");
            m.forEach((k, x) -> sb.append(sb.length() > 1 ? ", " : "")
                    .append('"')
                    .append(k)
                    .append("\": ")
                    .append(json(x)));
            return sb.append('}').toString();
        }
        if (v instanceof Double d) return Double.isFinite(d) ? String.format(Locale.ROOT, "%.6e", d) : "null";
        return v.toString();
    }

    public static double[] host(Tensor t) {
        return t.to(Device.CPU).toDoubleArray();
    }

    /** Accumulates named comparisons; {@link #verify} prints them all, then fails on the first one over tolerance. */
    public static final class Report {
        private final String what;
        private final List<String> lines = new ArrayList<>();
        private final List<String> failures = new ArrayList<>();
        private final Map<String, Double> errors = new LinkedHashMap<>();

        public Report(String what) {
            this.what = what;
        }

        public Report check(String name, Tensor got, double[] ref, double tol) {
            return check(name, got == null ? null : host(got), ref, tol);
        }

        public Report check(String name, double[] got, double[] ref, double tol) {
            if (got == null) {
                failures.add(name + ": missing");
                lines.add(String.format("  %-12s missing", name));
                return this;
            }
            if (got.length != ref.length) {
                failures.add(name + ": " + got.length + " elements, reference " + ref.length);
                lines.add(String.format("  %-12s %d elements, reference %d", name, got.length, ref.length));
                return this;
            }
            double num = 0, den = 0;
            int bad = 0, first = -1;
            for (int i = 0; i < got.length; i++) {
                if (!Double.isFinite(got[i])) {
                    bad++;
                    if (first < 0) first = i;
                    continue;
                }
                double d = got[i] - ref[i];
                num += d * d;
                den += ref[i] * ref[i];
            }
            double rms = Math.sqrt(den / Math.max(1, ref.length));
            double err = bad > 0 ? Double.POSITIVE_INFINITY : Math.sqrt(num / Math.max(den, 1e-300));
            if (first < 0) {
                for (int i = 0; i < got.length; i++) {
                    if (Math.abs(got[i] - ref[i]) > 20 * tol * Math.max(rms, 1e-30)) {
                        first = i;
                        break;
                    }
                }
            }
            String where = first < 0
                    ? ""
                    : String.format(Locale.ROOT, "  first far element %d: %.6g vs %.6g", first, got[first], ref[first]);
            String line = String.format(
                    Locale.ROOT,
                    "  %-12s rel err %.3e (tol %.0e)  non-finite %d  ref rms %.3e%s",
                    name,
                    err,
                    tol,
                    bad,
                    rms,
                    where);
            lines.add(line);
            errors.put(name, err);
            if (!(err < tol)) failures.add(name + line);
            return this;
        }

        /** Each checked output's relative L2 error, in order. */
        public Map<String, Double> errors() {
            return errors;
        }

        public void verify() {
            System.out.println(what);
            lines.forEach(System.out::println);
            assertThat(failures)
                    .as(what + " (each output: relative L2 error, non-finite count, first far element)")
                    .isEmpty();
        }
    }
}
