package fulgur.cuda.bench;

import fulgur.backend.Backends;
import fulgur.cuda.CudaBackend;
import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaEvent;
import fulgur.cuda.CudaStorage;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.driver.CudaDriver;
import fulgur.cuda.ops.attention.FlashAttention;
import fulgur.cuda.ops.attention.PagedAttention;
import fulgur.cuda.ops.moe.ExpertFfn;
import fulgur.cuda.ops.moe.MoeRouter;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
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
import java.util.SplittableRandom;

/**
 * Times the flash-attention kernels (forward, backward, forward+backward: the default kernels, i.e. the warpgroup
 * ones on Hopper, then the mma.sync ones and the warpgroup forward's settings; later rounds repeat the default and
 * mma.sync), paged decoding and the device-side MoE layer (routing, dispatch, grouped expert GEMMs, combine; forward
 * and forward+backward) with CUDA events: 3 warm-ups, the median of {@code --reps} runs, inputs from a device-side
 * uniform fill (never zeros) and larger than the L2 cache at the default shapes; the outputs of the last run are
 * checked to be finite. Writes
 * {@code attn_moe_bench.json} (read by {@code scripts/gpu/attn_peer.py} for the ratios to PyTorch) and a table.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp 'jars/*' fulgur.cuda.bench.AttnMoeBench [--out DIR] [--reps 20]
 *     [--attn 8x2048x16x64,1x16384x16x64,4x4096x16x128] (BxTxHxD, causal, H = Hkv) [--variants true] [--rounds 2]
 *     [--decode 64x4096x32x8x128] (sequences x max length x H x Hkv x D) [--moe 16384x1024x1536x32x2,16384x1024x2816x8x2]
 *     (tokens x D x F x experts x k) [--sections attn,decode,moe]
 * </pre>
 */
public final class AttnMoeBench {
    private final CudaBackend be = (CudaBackend) Backends.of(Device.cuda(0));
    private final CudaContext ctx = be.context();
    private final CudaStream st = be.stream();
    private final List<String> table = new ArrayList<>();
    private final List<String> json = new ArrayList<>();
    private int reps = 20;
    private Path outDir = Path.of(".");
    private long seed = 1;

    public static void main(String[] args) throws IOException {
        Map<String, String> o = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        new AttnMoeBench().run(o);
    }

    private void run(Map<String, String> o) throws IOException {
        reps = Integer.parseInt(o.getOrDefault("reps", "20"));
        outDir = Path.of(o.getOrDefault("out", "."));
        Files.createDirectories(outDir);
        String sections = o.getOrDefault("sections", "attn,decode,moe");
        boolean variants = Boolean.parseBoolean(o.getOrDefault("variants", "true"));
        System.out.println(
                "device: " + ctx.device() + ", driver " + CudaDriver.get().driverVersion());
        if (sections.contains("decode")) {
            for (String s : o.getOrDefault("decode", "64x4096x32x8x128,8x32768x32x8x128")
                    .split(",")) {
                int[] a = dims(s);
                guard("decode " + s, () -> decode(a[0], a[1], a[2], a[3], a[4]));
            }
        }
        if (sections.contains("moe")) {
            for (String s : o.getOrDefault("moe", "16384x1024x1536x32x2,16384x1024x2816x8x2")
                    .split(",")) {
                int[] a = dims(s);
                guard("moe " + s, () -> moe(a[0], a[1], a[2], a[3], a[4]));
            }
        }
        // attention last: the kernels under development, so that a fault there leaves the other sections' results
        int rounds = Integer.parseInt(o.getOrDefault("rounds", "2"));
        for (int round = 1; sections.contains("attn") && round <= rounds; round++) {
            // round 1: every variant; later rounds: the default and mma.sync again (noise between the two families)
            String tag = round == 1 ? "" : " (round " + round + ")";
            boolean all = variants && round == 1;
            for (String s : o.getOrDefault("attn", "8x2048x16x64,1x16384x16x64,4x4096x16x128")
                    .split(",")) {
                int[] a = dims(s);
                if (variants) {
                    guard(
                            "attention " + s + " mma.sync",
                            () -> attention(
                                    a[0],
                                    a[1],
                                    a[2],
                                    a[3],
                                    new FlashAttention(be).withKernels(FlashAttention.Kernels.MMA_SYNC),
                                    " [mma.sync]" + tag));
                }
                guard("attention " + s, () -> attention(a[0], a[1], a[2], a[3], new FlashAttention(be), tag));
                if (!all || !new FlashAttention(be).usesWgmma(a[3])) continue;
                List<Map.Entry<String, Map<String, String>>> wg = new ArrayList<>(List.of(
                        Map.entry(" [wgmma, no softmax/product overlap]", Map.of("F90_OVERLAP", "0")),
                        Map.entry(" [wgmma, no ping-pong]", Map.of("F90_PINGPONG", "0"))));
                if (a[3] == 64) {
                    wg.add(Map.entry(" [wgmma, 3 consumer warpgroups]", Map.of("F90_WG", "3")));
                    wg.add(Map.entry(" [wgmma, 3-stage K/V ring]", Map.of("F90_STAGES", "3")));
                }
                for (var e : wg) {
                    guard(
                            "attention " + s + e.getKey(),
                            () -> attention(
                                    a[0],
                                    a[1],
                                    a[2],
                                    a[3],
                                    new FlashAttention(be)
                                            .withKernels(FlashAttention.Kernels.WGMMA)
                                            .withDefines(e.getValue()),
                                    e.getKey()));
                }
            }
        }
        writeJson();
        System.out.println();
        System.out.println(
                "=== fulgur attention / MoE kernels (median ms, " + ctx.device().name() + ") ===");
        table.forEach(System.out::println);
    }

    private static int[] dims(String s) {
        return Arrays.stream(s.split("x")).mapToInt(Integer::parseInt).toArray();
    }

    private void guard(String what, Runnable r) {
        try {
            r.run();
        } catch (RuntimeException | Error e) {
            String line = what + ": FAILED " + e;
            System.out.println(line);
            e.printStackTrace(System.out);
            table.add(line);
        }
    }

    // ------------------------------------------------------------------ helpers

    private Tensor random(DType dtype, float lo, float hi, int... shape) {
        Tensor t = be.empty(dtype, shape);
        String k = dtype == DType.BF16 ? "fill_uniform_bf16" : "fill_uniform_f32";
        ctx.module("util.cu", Map.of())
                .kernel(k)
                .launch(st, ctx.device().multiprocessors() * 16, 1, 1, 256, 0, ptr(t), t.numel(), seed++, lo, hi);
        return t;
    }

    private static DevicePointer ptr(Tensor t) {
        return DevicePointer.of(((CudaStorage) t.storage()).address("bench")
                + t.offset() * t.dtype().byteSize());
    }

    /** Non-finite elements of a bf16 or f32 tensor (bf16 through the util kernel; f32 read back). */
    private long nonFinite(Tensor t) {
        if (t.dtype() != DType.BF16) {
            long c = 0;
            for (float f : t.toFloatArray()) if (!Float.isFinite(f) && f != Float.NEGATIVE_INFINITY) c++;
            return c;
        }
        try (DeviceBuffer c = ctx.allocate(8, st);
                Arena a = Arena.ofConfined()) {
            c.fill32(0, st);
            ctx.module("util.cu", Map.of())
                    .kernel("count_nonfinite_bf16")
                    .launch(st, ctx.device().multiprocessors() * 8, 1, 1, 256, 0, ptr(t), t.numel(), c);
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

    /** Median ms of {@code body} (3 warm-ups); {@code after} runs outside the timed region (frees the outputs). */
    private double time(java.util.function.Supplier<AutoCloseable> body) {
        try {
            for (int i = 0; i < 3; i++) body.get().close();
            st.synchronize();
            CudaEvent[] e0 = new CudaEvent[reps], e1 = new CudaEvent[reps];
            for (int i = 0; i < reps; i++) {
                e0[i] = CudaEvent.create().record(st);
                AutoCloseable res = body.get();
                e1[i] = CudaEvent.create().record(st);
                res.close();
            }
            st.synchronize();
            float[] ms = new float[reps];
            for (int i = 0; i < reps; i++) {
                ms[i] = e1[i].elapsedSince(e0[i]);
                e0[i].close();
                e1[i].close();
            }
            return median(ms);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Prints and keeps a result; the JSON file is rewritten each time, so a crash keeps what was measured. */
    private void record(String line, String jsonLine) {
        System.out.println(line);
        table.add(line);
        json.add(jsonLine);
        writeJson();
    }

    private void writeJson() {
        try {
            Files.writeString(
                    outDir.resolve("attn_moe_bench.json"),
                    "{\"device\":\"" + ctx.device().name() + "\",\"runs\":[\n" + String.join(",\n", json) + "\n]}\n");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------ attention

    private void attention(int b, int t, int h, int d, FlashAttention fa, String label) {
        double scale = 1 / Math.sqrt(d);
        Tensor q = random(DType.BF16, -2, 2, b, t, h, d),
                k = random(DType.BF16, -2, 2, b, t, h, d),
                v = random(DType.BF16, -2, 2, b, t, h, d);
        Tensor dout = random(DType.BF16, -1, 1, b, t, h, d);
        long t0 = System.nanoTime();
        FlashAttention.Output o = fa.forward(q, k, v, scale, true);
        FlashAttention.Gradients g0 = fa.backward(q, k, v, o.out(), o.lse(), dout, scale, true);
        st.synchronize();
        String family = fa.usesWgmma(d) ? "wgmma" : "mma.sync";
        System.out.printf(
                "attention B=%d T=%d H=%d D=%d%s (%s kernels): first call (module load or NVRTC) %.1f s%n",
                b, t, h, d, label, family, (System.nanoTime() - t0) / 1e9);
        g0.close();
        double fwd = time(() -> fa.forward(q, k, v, scale, true));
        double bwd = time(() -> fa.backward(q, k, v, o.out(), o.lse(), dout, scale, true));
        double both = time(() -> {
            FlashAttention.Output oo = fa.forward(q, k, v, scale, true);
            FlashAttention.Gradients gg = fa.backward(q, k, v, oo.out(), oo.lse(), dout, scale, true);
            return () -> {
                oo.close();
                gg.close();
            };
        });
        FlashAttention.Output last = fa.forward(q, k, v, scale, true);
        FlashAttention.Gradients lg = fa.backward(q, k, v, last.out(), last.lse(), dout, scale, true);
        long bad = nonFinite(last.out()) + nonFinite(lg.dq()) + nonFinite(lg.dk()) + nonFinite(lg.dv());
        double flops = 4.0 * b * h * (double) t * t * d / 2; // causal: half the score matrix
        String line = String.format(
                "flash attention B=%d T=%d H=%d D=%d causal%s: fwd %.3f ms (%.0f TFLOP/s)  bwd %.3f ms (%.0f)  fwd+bwd %.3f ms"
                        + " (%.0f)%s",
                b,
                t,
                h,
                d,
                label.startsWith(" [") ? label : " [" + family + "]" + label,
                fwd,
                flops / fwd / 1e9,
                bwd,
                2.5 * flops / bwd / 1e9,
                both,
                3.5 * flops / both / 1e9,
                bad > 0 ? "  NON-FINITE OUTPUTS: " + bad : "");
        record(
                line,
                String.format(
                        "{\"op\":\"attention\",\"B\":%d,\"T\":%d,\"H\":%d,\"D\":%d,\"causal\":true,\"variant\":\"%s\",\"kernels\":\"%s\","
                                + "\"fwd_ms\":%.4f,\"bwd_ms\":%.4f,\"fwdbwd_ms\":%.4f,\"nonfinite\":%d}",
                        b, t, h, d, label.trim(), family, fwd, bwd, both, bad));
        for (AutoCloseable c : new AutoCloseable[] {last, lg, o}) close(c);
        for (Tensor x : new Tensor[] {q, k, v, dout}) x.close();
        st.synchronize();
    }

    private static void close(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    // ------------------------------------------------------------------ decoding

    private void decode(int n, int maxLen, int h, int hk, int d) {
        PagedAttention pa = new PagedAttention(be);
        int bs = 16, maxBlocks = (maxLen + bs - 1) / bs;
        SplittableRandom r = new SplittableRandom(5);
        int[] lens = new int[n];
        long tokens = 0;
        for (int i = 0; i < n; i++) {
            lens[i] = maxLen / 4 + r.nextInt(maxLen - maxLen / 4 + 1);
            tokens += lens[i];
        }
        int pool = n * maxBlocks;
        int[] table = new int[n * maxBlocks];
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < pool; i++) ids.add(i);
        java.util.Collections.shuffle(ids, new java.util.Random(6));
        for (int i = 0; i < table.length; i++) table[i] = ids.get(i);
        Tensor kc = random(DType.BF16, -2, 2, pool, bs, hk, d), vc = random(DType.BF16, -2, 2, pool, bs, hk, d);
        Tensor q = random(DType.BF16, -2, 2, n, h, d);
        Tensor bt = be.empty(DType.I32, new int[] {n, maxBlocks}), sl = be.empty(DType.I32, new int[] {n});
        be.copy(Tensor.ofInts(table, n, maxBlocks), bt);
        be.copy(Tensor.ofInts(lens, n), sl);
        double scale = 1 / Math.sqrt(d);
        pa.decode(q, kc, vc, bt, sl, scale).close();
        double ms = time(() -> pa.decode(q, kc, vc, bt, sl, scale));
        PagedAttention.Output last = pa.decode(q, kc, vc, bt, sl, scale);
        long bad = nonFinite(last.out());
        double bytes = 2.0 * tokens * hk * d * 2; // keys and values read once
        String line = String.format(
                "paged decode N=%d lens %d..%d (mean %d) H=%d Hkv=%d D=%d block %d: %.3f ms (%.0f GB/s of cache read)%s",
                n,
                maxLen / 4,
                maxLen,
                tokens / n,
                h,
                hk,
                d,
                bs,
                ms,
                bytes / ms / 1e6,
                bad > 0 ? "  NON-FINITE OUTPUTS: " + bad : "");
        record(
                line,
                String.format(
                        "{\"op\":\"decode\",\"N\":%d,\"maxlen\":%d,\"H\":%d,\"Hkv\":%d,\"D\":%d,\"block\":%d,\"lens\":%s,\"ms\":%.4f,"
                                + "\"nonfinite\":%d}",
                        n, maxLen, h, hk, d, bs, Arrays.toString(lens), ms, bad));
        last.close();
        for (Tensor x : new Tensor[] {kc, vc, q, bt, sl}) x.close();
        st.synchronize();
    }

    // ------------------------------------------------------------------ MoE

    private void moe(int n, int dim, int hidden, int e, int k) {
        MoeRouter router = new MoeRouter(be);
        ExpertFfn ffn = new ExpertFfn(be);
        MoeRouter.Config cfg = new MoeRouter.Config(e, k, MoeRouter.Gating.SOFTMAX, true, 0.01);
        Tensor logits = random(DType.F32, -2, 2, n, e), x = random(DType.BF16, -2, 2, n, dim);
        float ws = (float) (1 / Math.sqrt(dim)), ws2 = (float) (1 / Math.sqrt(hidden));
        Tensor w1 = random(DType.BF16, -ws, ws, e, hidden, dim), w3 = random(DType.BF16, -ws, ws, e, hidden, dim);
        Tensor w2 = random(DType.BF16, -ws2, ws2, e, dim, hidden), dOut = random(DType.BF16, -1, 1, n, dim);
        Tensor dAux = random(DType.F32, 1, 1, 1);
        java.util.function.Supplier<AutoCloseable> forward = () -> {
            MoeRouter.Routing r = router.route(logits, cfg);
            Tensor rows = router.gather(x, r);
            ExpertFfn.Forward f = ffn.forward(rows, w1, w3, w2, r.offsets());
            Tensor out = router.combine(f.y(), r);
            return () -> {
                r.close();
                rows.close();
                f.y().close();
                f.saved().close();
                out.close();
            };
        };
        Tensor[] outs = new Tensor[1];
        java.util.function.Supplier<AutoCloseable> step = () -> {
            MoeRouter.Routing r = router.route(logits, cfg);
            Tensor rows = router.gather(x, r);
            ExpertFfn.Forward f = ffn.forward(rows, w1, w3, w2, r.offsets());
            Tensor out = router.combine(f.y(), r);
            MoeRouter.CombineGradients cg = router.combineBackward(dOut, f.y(), r);
            ExpertFfn.Gradients fg = ffn.backward(cg.dRows(), rows, w1, w3, w2, r.offsets(), f.saved(), DType.F32);
            Tensor dx = router.gatherBackward(fg.dx(), r);
            Tensor dl = router.routeBackward(logits, r, cg.dGates(), dAux);
            outs[0] = out;
            return () -> {
                r.close();
                rows.close();
                f.y().close();
                f.saved().close();
                out.close();
                cg.close();
                fg.close();
                dx.close();
                dl.close();
            };
        };
        java.util.function.Supplier<AutoCloseable> routeOnly = () -> router.route(logits, cfg);
        close(step.get());
        st.synchronize();
        double tRoute = time(routeOnly);
        double tFwd = time(forward);
        double tStep = time(step);
        AutoCloseable last = step.get();
        long bad = nonFinite(outs[0]);
        close(last);
        double flops = 2.0 * n * k * 3.0 * dim * hidden;
        String line = String.format(
                "MoE N=%d D=%d F=%d E=%d top-%d: route %.3f ms  fwd %.3f ms (%.0f TFLOP/s)  fwd+bwd %.3f ms (%.0f TFLOP/s)%s",
                n,
                dim,
                hidden,
                e,
                k,
                tRoute,
                tFwd,
                flops / tFwd / 1e9,
                tStep,
                3 * flops / tStep / 1e9,
                bad > 0 ? "  NON-FINITE OUTPUTS: " + bad : "");
        record(
                line,
                String.format(
                        "{\"op\":\"moe\",\"N\":%d,\"D\":%d,\"F\":%d,\"E\":%d,\"k\":%d,\"route_ms\":%.4f,\"fwd_ms\":%.4f,\"fwdbwd_ms\":%.4f,"
                                + "\"nonfinite\":%d}",
                        n, dim, hidden, e, k, tRoute, tFwd, tStep, bad));
        for (Tensor t : new Tensor[] {logits, x, w1, w3, w2, dOut, dAux}) t.close();
        st.synchronize();
    }
}
