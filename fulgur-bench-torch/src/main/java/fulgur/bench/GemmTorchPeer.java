package fulgur.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import fulgur.backend.cpu.Parallel;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * fulgur's f32 GEMM beside libtorch's {@code matmul} (DJL's PyTorch engine, libtorch from Maven Central, the same
 * thread count) at the same shapes in one JVM, in alternating rounds: fulgur then libtorch for each shape, round
 * after round, both timed the same way (back-to-back calls after a warm-up), one line per measurement with the
 * machine's load, fulgur's fraction of the FMA peak measured right after it, and the ratio of the two medians.
 *
 * <p>{@code GemmTorchPeer [--rounds N] [MxNxK[:NT] ...]} (default: {@link GemmQuick#SHAPES}, 3 rounds). Run it with
 * {@code scripts/gemm-torch-peer.sh}, which builds this module and sets {@code DJL_OFFLINE=true}.
 */
public final class GemmTorchPeer {

    private GemmTorchPeer() {}

    public static void main(String[] args) {
        int rounds = 3;
        List<GemmQuick.Shape> shapes = new ArrayList<>();
        try {
            for (int i = 0; i < args.length; i++) {
                if (args[i].equals("--rounds") && i + 1 < args.length) {
                    rounds = Integer.parseInt(args[++i]);
                } else {
                    shapes.add(GemmQuick.Shape.parse(args[i]));
                }
            }
        } catch (IllegalArgumentException e) {
            System.err.println("GemmTorchPeer: " + e.getMessage());
            System.exit(2);
        }
        if (shapes.isEmpty()) {
            shapes.addAll(GemmQuick.SHAPES);
        }
        int threads = Parallel.threads();
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        try (NDManager manager = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            System.out.printf(
                    "libtorch %s (DJL), %d threads; fulgur %d threads, FMA peak %.1f GFLOP/s%n",
                    manager.getEngine().getVersion(), threads, threads, FmaPeak.gflops(8));
            System.out.println("round\tload\tsize\tfulgur_gflops\tfulgur_fraction_of_peak\ttorch_gflops\tratio");
            for (int r = 1; r <= rounds; r++) {
                for (GemmQuick.Shape s : shapes) {
                    double fulgur = GemmQuick.median(GemmQuick.measureBackToBack(s, 1.0, 1.0));
                    double peak = FmaPeak.gflops(3);
                    double torch = GemmQuick.median(measureTorch(manager, s, 1.0, 1.0));
                    double load = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
                    System.out.printf(
                            Locale.ROOT,
                            "%d\t%.2f\t%s\t%.1f\t%.3f\t%.1f\t%.2f%n",
                            r,
                            load,
                            s,
                            fulgur,
                            fulgur / peak,
                            torch,
                            fulgur / torch);
                }
            }
        }
    }

    /** GFLOP/s of libtorch's matmul per timed call, after a warm-up, on operands laid out as {@code s} says. */
    static double[] measureTorch(NDManager manager, GemmQuick.Shape s, double warmupSeconds, double timedSeconds) {
        try (NDManager m = manager.newSubManager()) {
            NDArray a = s.transA()
                    ? m.randomUniform(-1, 1, new ai.djl.ndarray.types.Shape(s.k(), s.m()))
                            .transpose()
                    : m.randomUniform(-1, 1, new ai.djl.ndarray.types.Shape(s.m(), s.k()));
            NDArray b = s.transB()
                    ? m.randomUniform(-1, 1, new ai.djl.ndarray.types.Shape(s.n(), s.k()))
                            .transpose()
                    : m.randomUniform(-1, 1, new ai.djl.ndarray.types.Shape(s.k(), s.n()));
            long start = System.nanoTime();
            for (int i = 0; i < 3 || System.nanoTime() - start < warmupSeconds * 1e9; i++) {
                a.matMul(b).close();
            }
            double[] g = new double[64];
            int n = 0;
            start = System.nanoTime();
            while (n < g.length && (n < 5 || System.nanoTime() - start < timedSeconds * 1e9)) {
                long t0 = System.nanoTime();
                a.matMul(b).close();
                g[n++] = s.flops() / (System.nanoTime() - t0);
            }
            return Arrays.copyOf(g, n);
        }
    }
}
