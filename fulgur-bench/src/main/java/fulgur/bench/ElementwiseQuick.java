package fulgur.bench;

import fulgur.autograd.GradMode;
import fulgur.ops.Losses;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code elementwise} and {@code softmax} (softmax, log-softmax and cross-entropy) quick benchmarks: memory
 * throughput in GB/s (bytes read + written per call) of f32 kernels on 16M-element tensors (64 MiB, larger than the
 * caches), beside a plain copy of the same bytes (MemorySegment.copy, one thread) and a float[] System.arraycopy
 * measured in the same run.
 */
final class ElementwiseQuick {
    private static final int N = 1 << 24;

    private ElementwiseQuick() {}

    static List<BenchResult> elementwise() {
        List<BenchResult> out = new ArrayList<>();
        try (Scope s = Scope.open("bench");
                var g = GradMode.noGrad()) {
            Rng rng = new Rng(1);
            Tensor a = rng.normal(0, 1, N);
            Tensor b = rng.normal(0, 1, N);
            double copy = copyGbps(a);
            out.add(result("elementwise", "copy_segment", copy, copy, Map.of("bytes_per_call", 8L * N)));
            double arr = arraycopyGbps();
            out.add(result("elementwise", "copy_float_array", arr, copy, Map.of("bytes_per_call", 8L * N)));
            out.add(op("add", 12L * N, copy, () -> closeAfter(a.add(b))));
            out.add(op("mul", 12L * N, copy, () -> closeAfter(a.mul(b))));
            out.add(op("silu", 8L * N, copy, () -> closeAfter(a.silu())));
            out.add(op("exp", 8L * N, copy, () -> closeAfter(a.exp())));
            out.add(op("mul_scalar", 8L * N, copy, () -> closeAfter(a.mul(0.5))));
            Tensor row = rng.normal(0, 1, 4096);
            Tensor mat = a.reshape(N / 4096, 4096);
            out.add(op("add_broadcast_row", 8L * N, copy, () -> closeAfter(mat.add(row))));
        }
        return out;
    }

    static List<BenchResult> softmax() {
        List<BenchResult> out = new ArrayList<>();
        try (Scope s = Scope.open("bench");
                var g = GradMode.noGrad()) {
            Rng rng = new Rng(2);
            Tensor a = rng.normal(0, 1, N);
            double copy = copyGbps(a);
            out.add(result("softmax", "copy_segment", copy, copy, Map.of("bytes_per_call", 8L * N)));
            for (int cols : new int[] {256, 4096, 65536}) {
                Tensor x = a.reshape(N / cols, cols);
                Map<String, Object> extra = new LinkedHashMap<>();
                extra.put("rows", N / cols);
                extra.put("cols", cols);
                double sec = Timing.medianSeconds(() -> closeAfter(x.softmax(-1)), 0.5, 1.5, 5);
                out.add(result("softmax", "softmax_" + cols, 8.0 * N / sec / 1e9, copy, extra));
                double lsec = Timing.medianSeconds(() -> closeAfter(x.logSoftmax(-1)), 0.5, 1.5, 5);
                out.add(result("softmax", "log_softmax_" + cols, 8.0 * N / lsec / 1e9, copy, extra));
            }
            // the cross-entropy of rows of logits (a small vocabulary, a large one): the loss reads the logits once;
            // with its gradient, the backward reads them again and writes the gradient (12 bytes per element)
            for (int cols : new int[] {256, 32768}) {
                Tensor x = a.reshape(N / cols, cols);
                Rng pick = new Rng(4);
                long[] t = new long[N / cols];
                for (int i = 0; i < t.length; i++) {
                    t[i] = pick.nextInt(cols);
                }
                Tensor targets = Tensor.ofLongs(t, t.length);
                Map<String, Object> extra = new LinkedHashMap<>();
                extra.put("rows", N / cols);
                extra.put("cols", cols);
                double sec = Timing.medianSeconds(() -> closeAfter(Losses.crossEntropy(x, targets)), 0.5, 1.5, 5);
                out.add(result("softmax", "cross_entropy_" + cols, 4.0 * N / sec / 1e9, copy, extra));
                double gsec = Timing.medianSeconds(
                        () -> {
                            try (var on = GradMode.enable()) {
                                Tensor leaf = x.detach().requiresGrad(true);
                                Losses.crossEntropy(leaf, targets).backward();
                                closeAfter(leaf.grad()); // the leaf shares the logits' memory: left open
                            }
                        },
                        0.5,
                        1.5,
                        5);
                out.add(result("softmax", "cross_entropy_with_grad_" + cols, 12.0 * N / gsec / 1e9, copy, extra));
            }
        }
        return out;
    }

    /**
     * {@code finite}: the scan for NaN and infinities that guards loads and checkpoints ({@link fulgur.tensor.Finite}),
     * in GB/s of f32 read, beside a copy of the same tensor (bytes read + written) in the same run.
     */
    static List<BenchResult> finite() {
        List<BenchResult> out = new ArrayList<>();
        try (Scope s = Scope.open("bench");
                var g = GradMode.noGrad()) {
            Tensor a = new Rng(3).normal(0, 1, N);
            double copy = copyGbps(a);
            out.add(result("finite", "copy_segment", copy, copy, Map.of("bytes_per_call", 8L * N)));
            long[] sink = {0};
            double sec = Timing.medianSeconds(() -> sink[0] += fulgur.tensor.Finite.firstNonFinite(a), 0.5, 1.5, 5);
            if (sink[0] >= 0) {
                throw new IllegalStateException("finite: a normal sample was reported non-finite");
            }
            out.add(result("finite", "scan_f32", 4.0 * N / sec / 1e9, copy, Map.of("bytes_per_call", 4L * N)));
        }
        return out;
    }

    private static BenchResult op(String name, long bytes, double copy, Runnable body) {
        double sec = Timing.medianSeconds(body, 0.5, 1.5, 5);
        return result("elementwise", name, bytes / sec / 1e9, copy, Map.of("bytes_per_call", bytes));
    }

    private static BenchResult result(
            String bench, String metric, double gbps, double copy, Map<String, Object> extra) {
        Map<String, Object> e = new LinkedHashMap<>(extra);
        e.put("copy_gbps_same_run", copy);
        e.put("fraction_of_copy", gbps / copy);
        return new BenchResult(bench, metric, gbps, "GB/s", Machine.describe(e));
    }

    private static double copyGbps(Tensor src) {
        Tensor dst = Tensor.empty(src.dtype(), src.shape());
        MemorySegment s = src.hostSegment("bench");
        MemorySegment d = dst.hostSegment("bench");
        double sec = Timing.medianSeconds(() -> MemorySegment.copy(s, 0, d, 0, 4L * N), 0.5, 1.5, 5);
        return 8.0 * N / sec / 1e9;
    }

    private static double arraycopyGbps() {
        float[] s = new float[N];
        float[] d = new float[N];
        for (int i = 0; i < N; i++) {
            s[i] = i;
        }
        double sec = Timing.medianSeconds(() -> System.arraycopy(s, 0, d, 0, N), 0.5, 1.5, 5);
        return 8.0 * N / sec / 1e9;
    }

    private static void closeAfter(Tensor t) {
        t.close();
    }
}
