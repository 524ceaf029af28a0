package fulgur.cuda.bench;

import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaEvent;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.Kernel;
import fulgur.cuda.cublas.LtGemm;
import fulgur.cuda.driver.CudaDriver;
import fulgur.cuda.ops.lightning.LightningAttention;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * GPU benchmark of lightning attention (forward, backward, forward+backward; per-phase times) and of a
 * cuBLASLt bf16 GEMM. Times are medians of CUDA-event timings after warm-up; outputs are poisoned (NaN)
 * before every timed run (outside the timed region) and checked to be finite afterwards.
 *
 * <p>Layouts: {@code contiguous} (every operand [B, T, H, d]); {@code qkvu} as TransNormerLLM's fused mixer calls the
 * kernels (v read from its slice of a [B, T, 4·H·d] projection, dq, dk and dv written into the slices of its
 * gradient); {@code qkvu-silu} that with dq and dk times silu' of the pre-activations (read from the projection).
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp 'jars/*' fulgur.cuda.bench.LightningBench \
 *     [--ts 2048,8192,32768] [--b 4] [--h 32] [--d 128] [--segments auto,2048] [--reps 20]
 *     [--layouts contiguous,qkvu,qkvu-silu]
 *     [--gemm 8192]
 *     [--dump DIR] [--out DIR]
 * </pre>
 */
public final class LightningBench {
    private final CudaContext ctx = CudaContext.get(0);
    private final CudaStream st = CudaStream.create();
    private final StringBuilder json = new StringBuilder();
    private final List<String> table = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        new LightningBench().run(o);
    }

    private void run(Map<String, String> o) throws IOException {
        int B = Integer.parseInt(o.getOrDefault("b", "4")), H = Integer.parseInt(o.getOrDefault("h", "32"));
        int D = Integer.parseInt(o.getOrDefault("d", "128"));
        int reps = Integer.parseInt(o.getOrDefault("reps", "20"));
        int[] ts = Arrays.stream(o.getOrDefault("ts", "2048,8192,32768").split(","))
                .mapToInt(Integer::parseInt)
                .toArray();
        String[] segments = o.getOrDefault("segments", "auto").split(",");
        String[] layouts = o.getOrDefault("layouts", "contiguous").split(",");
        Path out = Path.of(o.getOrDefault("out", "."));
        Files.createDirectories(out);
        System.out.println(
                "device: " + ctx.device() + ", driver " + CudaDriver.get().driverVersion());
        json.append("{\"device\":\"").append(ctx.device().name()).append("\",\"runs\":[\n");

        if (o.containsKey("dump")) dump(Path.of(o.get("dump")));
        for (int T : ts) {
            for (String layout : layouts) lightning(B, T, H, D, segments, layout, reps);
        }
        if (!o.getOrDefault("gemm", "8192").equals("0")) gemm(Integer.parseInt(o.getOrDefault("gemm", "8192")), reps);

        json.append("{}]}\n");
        Files.writeString(out.resolve("lightning_bench.json"), json);
        System.out.println();
        System.out.println("=== fulgur CUDA benchmark (median ms) ===");
        table.forEach(System.out::println);
        System.out.println("allocator: " + ctx.allocator().report());
    }

    private Kernel util(String name) {
        return ctx.module("util.cu", Map.of()).kernel(name);
    }

    private void randomBf16(DevicePointer p, long n, long seed, float lo, float hi) {
        util("fill_uniform_bf16").launch(st, 132 * 16, 1, 1, 256, 0, p, n, seed, lo, hi);
    }

    private long nonFinite(DevicePointer p, long n) {
        try (DeviceBuffer c = ctx.allocate(8, st);
                Arena a = Arena.ofConfined()) {
            c.fill32(0, st);
            util("count_nonfinite_bf16").launch(st, 132 * 8, 1, 1, 256, 0, p, n, c);
            st.synchronize();
            MemorySegment h = a.allocate(8);
            c.copyToHost(h);
            return h.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    private static double median(float[] xs) {
        float[] c = xs.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : 0.5 * (c[c.length / 2 - 1] + c[c.length / 2]);
    }

    /** Times {@code body} reps times (after 3 warm-ups); {@code before} runs outside the timed region. */
    private double time(int reps, Runnable before, Runnable body) {
        for (int i = 0; i < 3; i++) {
            before.run();
            body.run();
        }
        CudaEvent[] e0 = new CudaEvent[reps], e1 = new CudaEvent[reps];
        for (int i = 0; i < reps; i++) {
            e0[i] = CudaEvent.create();
            e1[i] = CudaEvent.create();
            before.run();
            e0[i].record(st);
            body.run();
            e1[i].record(st);
        }
        st.synchronize();
        float[] ms = new float[reps];
        for (int i = 0; i < reps; i++) {
            ms[i] = e1[i].elapsedSince(e0[i]);
            e0[i].close();
            e1[i].close();
        }
        return median(ms);
    }

    private void lightning(int B, int T, int H, int D, String[] segments, String layout, int reps) {
        if (!List.of("contiguous", "qkvu", "qkvu-silu").contains(layout)) {
            throw new IllegalArgumentException("--layouts: unknown layout '" + layout + "'");
        }
        boolean wide = !layout.equals("contiguous"), pre = layout.equals("qkvu-silu");
        LightningAttention la = new LightningAttention(ctx);
        LightningAttention.Shape sh = new LightningAttention.Shape(B, T, H, D, D);
        long n = sh.qkElements();
        float scale = (float) (1 / Math.sqrt(D));
        DeviceBuffer q = ctx.allocate(2 * n, st),
                k = ctx.allocate(2 * n, st),
                v = ctx.allocate(2 * n, st),
                dout = ctx.allocate(2 * n, st),
                o = ctx.allocate(2 * n, st),
                dq = ctx.allocate(2 * n, st),
                dk = ctx.allocate(2 * n, st),
                dv = ctx.allocate(2 * n, st);
        // the [B, T, 4·H·d] projection and its gradient of the fused mixer (slices q, k, v, u)
        DeviceBuffer qkvu = ctx.allocate(wide ? 8 * n : 2, st), dqkvu = ctx.allocate(wide ? 8 * n : 2, st);
        long hd = (long) H * D, slice = 2 * hd;
        LightningAttention.Layout lay = wide
                ? new LightningAttention.Layout(hd, hd, 4 * hd, hd, 4 * hd, 4 * hd, 4 * hd, false)
                : LightningAttention.Layout.contiguous(sh);
        DevicePointer vIn = wide ? qkvu.plus(2 * slice) : v;
        DevicePointer dqOut = wide ? dqkvu : dq, dkOut = wide ? dqkvu.plus(slice) : dk;
        DevicePointer dvOut = wide ? dqkvu.plus(2 * slice) : dv;
        DevicePointer qPre = pre ? qkvu : null, kPre = pre ? qkvu.plus(slice) : null;
        DeviceBuffer slopes = ctx.allocate(4L * H, st);
        try (Arena a = Arena.ofConfined()) {
            slopes.copyFromHost(a.allocateFrom(ValueLayout.JAVA_FLOAT, LightningAttention.tnlSlopes(H)));
        }
        randomBf16(q, n, 1, -1, 1);
        randomBf16(k, n, 2, -1, 1);
        randomBf16(v, n, 3, -1, 1);
        randomBf16(dout, n, 4, -1, 1);
        if (wide) randomBf16(qkvu, 4 * n, 5, -2, 2);
        Runnable poisonFwd = () -> o.fill16((short) 0x7FC0, st);
        Runnable poisonBwd = () -> {
            if (wide) {
                dqkvu.fill16((short) 0, st); // the u slice is never written: zeros, not NaN
                return;
            }
            dq.fill16((short) 0x7FC0, st);
            dk.fill16((short) 0x7FC0, st);
            dv.fill16((short) 0x7FC0, st);
        };
        Runnable poisonAll = () -> {
            poisonFwd.run();
            poisonBwd.run();
        };
        long t0 = System.nanoTime();
        for (String segment : segments) {
            int seg = segment.equals("auto") ? la.defaultSegmentLength(sh) : Integer.parseInt(segment);
            if (seg > Math.max(T, 64) * 2) continue;
            DeviceBuffer states = ctx.allocate(LightningAttention.stateBytes(sh, seg), st);
            Runnable fwd = () -> la.forward(st, sh, lay, seg, q, k, vIn, o, slopes, scale, null, null, states);
            Runnable bwd = () -> la.backward(
                    st,
                    sh,
                    lay,
                    seg,
                    q,
                    k,
                    vIn,
                    dout,
                    slopes,
                    scale,
                    null,
                    null,
                    states,
                    dqOut,
                    dkOut,
                    dvOut,
                    null,
                    qPre,
                    pre ? 4 * hd : 0,
                    kPre,
                    pre ? 4 * hd : 0);
            fwd.run(); // compile + warm
            bwd.run();
            st.synchronize();
            if (t0 > 0) {
                System.out.printf(
                        "first call (NVRTC compile or cache load) took %.1f s%n", (System.nanoTime() - t0) / 1e9);
                t0 = 0;
            }
            double tf = time(reps, poisonFwd, fwd);
            long badO = nonFinite(o, n);
            double tb = time(reps, poisonBwd, bwd);
            long badG = wide ? nonFinite(dqkvu, 4 * n) : nonFinite(dq, n) + nonFinite(dk, n) + nonFinite(dv, n);
            double tfb = time(reps, poisonAll, () -> {
                fwd.run();
                bwd.run();
            });
            // per-phase times: events after each launch
            Map<String, Double> phases = phases(la, reps, fwd, bwd);
            String ph = phases.entrySet().stream()
                    .map(e -> String.format("%s %.3f", e.getKey(), e.getValue()))
                    .reduce((x, y) -> x + ", " + y)
                    .orElse("");
            String line = String.format(
                    "lightning %s B=%d T=%d H=%d D=%d seg=%d (%d segs): fwd %.3f  bwd %.3f  fwd+bwd %.3f ms"
                            + "  [fwd %.0f GB/s min-traffic]%s | %s",
                    layout,
                    B,
                    T,
                    H,
                    D,
                    seg,
                    LightningAttention.segments(sh, seg),
                    tf,
                    tb,
                    tfb,
                    4.0 * 2 * n / (tf * 1e6),
                    (badO + badG) > 0 ? "  NON-FINITE OUTPUTS: " + badO + "/" + badG : "",
                    ph);
            System.out.println(line);
            table.add(line);
            json.append(String.format(
                    "{\"op\":\"lightning\",\"layout\":\"%s\",\"B\":%d,\"T\":%d,\"H\":%d,\"D\":%d,\"seg\":%d,\"fwd_ms\":%.4f,"
                            + "\"bwd_ms\":%.4f,\"fwdbwd_ms\":%.4f,\"nonfinite\":%d,\"phases\":{%s}},%n",
                    layout,
                    B,
                    T,
                    H,
                    D,
                    seg,
                    tf,
                    tb,
                    tfb,
                    badO + badG,
                    phases.entrySet().stream()
                            .map(e -> String.format("\"%s\":%.4f", e.getKey(), e.getValue()))
                            .reduce((x, y) -> x + "," + y)
                            .orElse("")));
            states.close();
        }
        for (DeviceBuffer b : new DeviceBuffer[] {q, k, v, dout, o, dq, dk, dv, qkvu, dqkvu, slopes}) b.close();
        st.synchronize();
    }

    private Map<String, Double> phases(LightningAttention la, int reps, Runnable fwd, Runnable bwd) {
        Map<String, List<Float>> acc = new LinkedHashMap<>();
        for (int r = 0; r < reps; r++) {
            List<String> names = new ArrayList<>();
            List<CudaEvent> evs = new ArrayList<>();
            CudaEvent start = CudaEvent.create().record(st);
            la.probe((phase, s) -> {
                names.add(phase);
                evs.add(CudaEvent.create().record(s));
            });
            fwd.run();
            bwd.run();
            la.probe(null);
            st.synchronize();
            CudaEvent prev = start;
            for (int i = 0; i < names.size(); i++) {
                acc.computeIfAbsent(names.get(i), x -> new ArrayList<>())
                        .add(evs.get(i).elapsedSince(prev));
                prev = evs.get(i);
            }
            start.close();
            evs.forEach(CudaEvent::close);
        }
        Map<String, Double> med = new LinkedHashMap<>();
        acc.forEach((kname, l) -> {
            float[] a = new float[l.size()];
            for (int i = 0; i < a.length; i++) a[i] = l.get(i);
            med.put(kname, median(a));
        });
        return med;
    }

    private void gemm(int n, int reps) {
        try (LtGemm g = new LtGemm(ctx)) {
            long e = (long) n * n;
            DeviceBuffer A = ctx.allocate(2 * e, st), B = ctx.allocate(2 * e, st), C = ctx.allocate(2 * e, st);
            randomBf16(A, e, 11, -1, 1);
            randomBf16(B, e, 12, -1, 1);
            double ms = time(
                    reps,
                    () -> {},
                    () -> g.matmul(st, LtGemm.Precision.BF16, false, false, n, n, n, 1f, A, n, B, n, 0f, C, n));
            double tflops = 2.0 * n * n * (double) n / (ms * 1e9);
            String line = String.format("cuBLASLt bf16 GEMM %dx%dx%d: %.3f ms = %.0f TFLOP/s", n, n, n, ms, tflops);
            System.out.println(line);
            table.add(line);
            json.append(String.format("{\"op\":\"gemm\",\"n\":%d,\"ms\":%.4f,\"tflops\":%.1f},%n", n, ms, tflops));
            A.close();
            B.close();
            C.close();
        }
    }

    /** Writes a small case's inputs and fulgur's outputs (raw little-endian) for the Python cross-check with fla. */
    private void dump(Path dir) throws IOException {
        Files.createDirectories(dir);
        int B = 2, T = 1000, H = 4, D = 128;
        float scale = (float) (1 / Math.sqrt(D));
        LightningAttention la = new LightningAttention(ctx);
        LightningAttention.Shape sh = new LightningAttention.Shape(B, T, H, D, D);
        long n = sh.qkElements(), ns = sh.stateElements();
        int seg = 256;
        DeviceBuffer q = ctx.allocate(2 * n, st),
                k = ctx.allocate(2 * n, st),
                v = ctx.allocate(2 * n, st),
                dout = ctx.allocate(2 * n, st),
                o = ctx.allocate(2 * n, st),
                dq = ctx.allocate(2 * n, st),
                dk = ctx.allocate(2 * n, st),
                dv = ctx.allocate(2 * n, st),
                s0 = ctx.allocate(4 * ns, st),
                dht = ctx.allocate(4 * ns, st),
                ht = ctx.allocate(4 * ns, st),
                ds0 = ctx.allocate(4 * ns, st),
                slopes = ctx.allocate(4L * H, st),
                states = ctx.allocate(LightningAttention.stateBytes(sh, seg), st);
        try (Arena a = Arena.ofConfined()) {
            slopes.copyFromHost(a.allocateFrom(ValueLayout.JAVA_FLOAT, LightningAttention.tnlSlopes(H)));
        }
        randomBf16(q, n, 21, -1, 1);
        randomBf16(k, n, 22, -1, 1);
        randomBf16(v, n, 23, -1, 1);
        randomBf16(dout, n, 24, -1, 1);
        util("fill_uniform_f32").launch(st, 64, 1, 1, 256, 0, s0, ns, 25L, -1f, 1f);
        util("fill_uniform_f32").launch(st, 64, 1, 1, 256, 0, dht, ns, 26L, -1f, 1f);
        for (DeviceBuffer b : new DeviceBuffer[] {o, dq, dk, dv}) b.fill16((short) 0x7FC0, st);
        for (DeviceBuffer b : new DeviceBuffer[] {ht, ds0}) b.fill32(0x7FC00000, st);
        la.forward(st, sh, LightningAttention.Layout.contiguous(sh), seg, q, k, v, o, slopes, scale, s0, ht, states);
        la.backward(
                st,
                sh,
                LightningAttention.Layout.contiguous(sh),
                seg,
                q,
                k,
                v,
                dout,
                slopes,
                scale,
                s0,
                dht,
                states,
                dq,
                dk,
                dv,
                ds0,
                null,
                0,
                null,
                0);
        st.synchronize();
        String[] names = {"q", "k", "v", "do", "o", "dq", "dk", "dv", "s0", "dht", "ht", "ds0", "slopes"};
        DeviceBuffer[] bufs = {q, k, v, dout, o, dq, dk, dv, s0, dht, ht, ds0, slopes};
        try (Arena a = Arena.ofConfined()) {
            for (int i = 0; i < names.length; i++) {
                MemorySegment h = a.allocate(bufs[i].bytes());
                bufs[i].copyToHost(h);
                Files.write(dir.resolve(names[i] + ".bin"), h.toArray(ValueLayout.JAVA_BYTE));
            }
        }
        Files.writeString(
                dir.resolve("meta.txt"),
                String.format("B=%d T=%d H=%d D=%d scale=%s seg=%d%n", B, T, H, D, scale, seg));
        System.out.println("dumped a B=2 T=1000 H=4 D=128 case to " + dir);
        for (DeviceBuffer b : bufs) b.close();
    }
}
