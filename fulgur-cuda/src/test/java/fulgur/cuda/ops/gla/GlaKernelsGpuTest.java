package fulgur.cuda.ops.gla;

import static fulgur.cuda.ops.ZooCheck.dev;
import static fulgur.cuda.ops.ZooCheck.logDecay;
import static fulgur.cuda.ops.ZooCheck.signed;

import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.Views;
import fulgur.ops.gla.Gla;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Gated linear attention on the GPU ({@link GlaLauncher}) against fulgur's chunked form in f64 on the CPU (its autograd
 * gives the gradients): output, final state, dq, dk, dv, dg (always f32) and the initial state's gradient, for the
 * tensor-core path (bf16, relative L2 error under 1e-2) and the exact f32 path (under 1e-5; bf16 inputs on it 1e-2).
 */
@Tag("gpu")
class GlaKernelsGpuTest {

    /** {o, final state, dq, dk, dv, dg, dh0} of fulgur's chunked GLA in f64, one call per sequence. */
    static double[][] reference(
            Tensor q, Tensor k, Tensor v, Tensor g, Tensor h0, Tensor dO, Tensor dht, double scale, int[] cu) {
        int b = q.size(0), t = q.size(1), h = q.size(2), kd = q.size(3), vd = v.size(3);
        int n = cu == null ? 1 : cu.length - 1;
        double[][] out = {
            new double[b * t * h * vd],
            new double[(cu == null ? b : n) * h * kd * vd],
            new double[b * t * h * kd],
            new double[b * t * h * kd],
            new double[b * t * h * vd],
            new double[b * t * h * kd],
            new double[(cu == null ? b : n) * h * kd * vd]
        };
        Tensor[] all = {q, k, v, g, dO};
        for (int s = 0; s < n; s++) {
            int from = cu == null ? 0 : cu[s], len = cu == null ? t : cu[s + 1] - cu[s];
            Tensor[] x = new Tensor[5];
            for (int i = 0; i < 5; i++)
                x[i] = Views.contiguous(Views.narrow(all[i].to(DType.F64), 1, from, len))
                        .detach();
            Tensor s0 = h0 == null
                    ? null
                    : Views.contiguous(cu == null ? h0.to(DType.F64) : Views.narrow(h0.to(DType.F64), 0, s, 1))
                            .detach();
            Tensor ds = dht == null
                    ? null
                    : Views.contiguous(cu == null ? dht.to(DType.F64) : Views.narrow(dht.to(DType.F64), 0, s, 1))
                            .detach();
            for (int i = 0; i < 4; i++) x[i].requiresGrad(true);
            if (s0 != null) s0.requiresGrad(true);
            Gla.Result r = Gla.chunked(x[0], x[1], x[2], x[3], scale, s0, true, 16);
            Tensor loss = r.output().mul(x[4]).sum();
            if (ds != null) loss = loss.add(r.finalState().mul(ds).sum());
            loss.backward();
            int tokOff = from * h, stOff = (cu == null ? 0 : s) * h * kd * vd;
            copy(r.output().toDoubleArray(), out[0], tokOff * vd);
            copy(r.finalState().toDoubleArray(), out[1], stOff);
            copy(x[0].grad().toDoubleArray(), out[2], tokOff * kd);
            copy(x[1].grad().toDoubleArray(), out[3], tokOff * kd);
            copy(x[2].grad().toDoubleArray(), out[4], tokOff * vd);
            copy(x[3].grad().toDoubleArray(), out[5], tokOff * kd);
            if (s0 != null) copy(s0.grad().toDoubleArray(), out[6], stOff);
        }
        return out;
    }

    private static void copy(double[] src, double[] dst, int at) {
        System.arraycopy(src, 0, dst, at, src.length);
    }

    static DType dtype(String s) {
        return s.equals("f32") ? DType.F32 : DType.BF16;
    }

    static int[] cu(String s) {
        return s.equals("-")
                ? null
                : Arrays.stream(s.split(";")).mapToInt(Integer::parseInt).toArray();
    }

    @ParameterizedTest(name = "{0}/g {1} B={2} T={3} H={4} K={5} V={6} seg={7} h0={8} dht={9} cu={10} x>={11}")
    @CsvSource({
        // tensor cores: the zoo's head dims, one segment per sequence, T not a multiple of 64
        "bf16, bf16, 2, 200, 2, 128, 128, 0, true, true, -, -2",
        "bf16, f32, 1, 63, 3, 64, 64, 0, true, true, -, -2",
        "bf16, f32, 2, 65, 2, 64, 128, 0, false, true, -, -1",
        // several segments (state phases), three value tiles (the last partial)
        "bf16, bf16, 1, 300, 2, 128, 160, 64, true, true, -, -2",
        "bf16, f32, 1, 300, 2, 128, 128, 128, false, false, -, 0",
        // padded dims (K 48 -> 64), a partial value tile, T = 1
        "bf16, f32, 2, 1, 2, 48, 40, 0, true, true, -, -2",
        "bf16, bf16, 3, 17, 1, 96, 24, 0, true, false, -, -2",
        // packed sequences (cu_seqlens), with and without several segments
        "bf16, f32, 1, 330, 2, 64, 128, 64, true, true, 0;50;51;200;330, -2",
        "bf16, f32, 1, 330, 2, 128, 64, 0, true, true, 0;50;51;200;330, -2",
        // strong decay: channels whose decay inside a 16-token sub-chunk passes 2^-80 take the exact diagonal
        "bf16, f32, 1, 160, 2, 128, 64, 0, true, true, -, -14",
        "bf16, f32, 1, 200, 1, 64, 64, 64, true, true, -, -9",
        // long sequences, weak decay: dg's error must not grow with T (one segment, then eight)
        "bf16, f32, 1, 2048, 1, 64, 64, 0, true, true, -, -0.5",
        "bf16, bf16, 1, 2048, 1, 128, 64, 256, true, true, -, 0",
        // the exact f32 kernels: f32 inputs, K above 128, bf16 with K = 256
        "f32, f32, 2, 63, 2, 32, 48, 0, true, true, -, -2",
        "f32, f32, 1, 70, 1, 200, 16, 0, true, true, -, -2",
        "f32, bf16, 1, 200, 2, 64, 40, 0, true, true, 0;7;8;200, -3",
        "bf16, bf16, 1, 40, 1, 256, 32, 0, true, true, -, -2",
    })
    void matchesTheF64Reference(
            String dts,
            String gts,
            int B,
            int T,
            int H,
            int K,
            int V,
            int seg,
            boolean withH0,
            boolean withDht,
            String cus,
            double gLo) {
        DeviceTensors d = ZooCheck.gpu();
        GlaLauncher gk = new GlaLauncher(d).segmentLength(seg);
        DType dt = dtype(dts), gt = dtype(gts);
        int[] cu = cu(cus);
        int n = cu == null ? B : cu.length - 1;
        long seed = 1000L * T + 100L * K + V + B;
        try (Scope s = Scope.open("gla")) {
            Tensor q = signed(seed, dt, B, T, H, K),
                    k = signed(seed + 1, dt, B, T, H, K),
                    v = signed(seed + 2, dt, B, T, H, V);
            Tensor g = logDecay(seed + 3, gt, gLo, 4, B, T, H, K);
            Tensor dO = signed(seed + 4, dt, B, T, H, V);
            Tensor h0 = withH0 ? signed(seed + 5, DType.F32, n, H, K, V) : null;
            Tensor dht = withDht ? signed(seed + 6, DType.F32, n, H, K, V) : null;
            double scale = 1 / Math.sqrt(K);
            double[][] ref = reference(q, k, v, g, h0, dO, dht, scale, cu);
            boolean exactF32 = dt == DType.F32;
            double tol = exactF32 ? 1e-5 : 1e-2;
            String path = GlaLauncher.tensorCores(dt, K, V) ? "tensor cores" : "exact f32 kernels";
            GlaLauncher.Output out =
                    gk.forward(dev(q), dev(k), dev(v), dev(g), scale, h0 == null ? null : dev(h0), true, cu);
            GlaLauncher.Gradients gr = gk.backward(
                    dev(q),
                    dev(k),
                    dev(v),
                    dev(g),
                    scale,
                    h0 == null ? null : dev(h0),
                    cu,
                    dev(dO),
                    dht == null ? null : dev(dht));
            ZooCheck.Report rep = new ZooCheck.Report(String.format(
                    "gla %s (%s) %s/g %s B=%d T=%d H=%d K=%d V=%d seg=%d h0=%b dht=%b cu=%s",
                    path, exactF32 ? "f32" : "bf16", dts, gts, B, T, H, K, V, seg, withH0, withDht, cus));
            rep.check("o", out.output(), ref[0], tol)
                    .check("final state", out.finalState(), ref[1], tol)
                    .check("dq", gr.dq(), ref[2], tol)
                    .check("dk", gr.dk(), ref[3], tol)
                    .check("dv", gr.dv(), ref[4], tol)
                    .check("dg", gr.dg(), ref[5], tol);
            if (withH0) rep.check("dh0", gr.dInitialState(), ref[6], tol);
            if (GlaLauncher.tensorCores(dt, K, V)) dumpCase(q, k, v, g, dO, h0, dht, scale, cu, ref, rep.errors());
            rep.verify();
        }
    }

    /** With -Dfulgur.zoo.dump: this case's inputs, the f64 reference and our errors, for a peer to run on the same inputs. */
    private static void dumpCase(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            Tensor dO,
            Tensor h0,
            Tensor dht,
            double scale,
            int[] cu,
            double[][] ref,
            Map<String, Double> ours) {
        if (ZooCheck.dumpDir() == null) return;
        int b = q.size(0),
                t = q.size(1),
                h = q.size(2),
                kd = q.size(3),
                vd = v.size(3),
                n = cu == null ? b : cu.length - 1;
        String name = String.format(
                "gla_%s_B%d_T%d_H%d_K%d_V%d%s%s%s",
                g.dtype() == DType.F32 ? "gf32" : "gbf16",
                b,
                t,
                h,
                kd,
                vd,
                h0 != null ? "_h0" : "",
                dht != null ? "_dht" : "",
                cu != null ? "_cu" + (cu.length - 1) : "");
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("name", name);
        meta.put("scale", scale);
        meta.put("g_dtype", g.dtype() == DType.F32 ? "f32" : "bf16");
        meta.put("cu_seqlens", cu);
        meta.put("ours", ours);
        Map<String, double[]> arrays = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        int[] sk = {b, t, h, kd}, sv = {b, t, h, vd}, ss = {n, h, kd, vd};
        Object[][] items = {
            {"q", q, sk},
            {"k", k, sk},
            {"v", v, sv},
            {"g", g, sk},
            {"dO", dO, sv},
            {"h0", h0, ss},
            {"dht", dht, ss},
            {"ref_o", ref[0], sv},
            {"ref_final_state", ref[1], ss},
            {"ref_dq", ref[2], sk},
            {"ref_dk", ref[3], sk},
            {"ref_dv", ref[4], sv},
            {"ref_dg", ref[5], sk},
            {"ref_dh0", h0 == null ? null : ref[6], ss}
        };
        for (Object[] it : items) {
            if (it[1] == null) continue;
            arrays.put((String) it[0], it[1] instanceof Tensor x ? x.toDoubleArray() : (double[]) it[1]);
            shapes.put((String) it[0], (int[]) it[2]);
        }
        ZooCheck.dump(name, meta, arrays, shapes);
    }

    @Test
    void decodingAdvancesTheStateInPlaceLikeTheRecurrence() {
        DeviceTensors d = ZooCheck.gpu();
        GlaLauncher gk = new GlaLauncher(d);
        int B = 3, H = 2, K = 128, V = 64, steps = 5;
        for (DType dt : new DType[] {DType.BF16, DType.F32}) {
            try (Scope s = Scope.open("gla-decode")) {
                Tensor q = signed(71, dt, B, steps, H, K),
                        k = signed(72, dt, B, steps, H, K),
                        v = signed(73, dt, B, steps, H, V);
                Tensor g = logDecay(74, DType.F32, -2, 4, B, steps, H, K);
                Tensor h0 = signed(75, DType.F32, B, H, K, V);
                Gla.Result ref = Gla.recurrent(
                        q.to(DType.F64), k.to(DType.F64), v.to(DType.F64), g.to(DType.F64), 0.25, h0.to(DType.F64));
                Tensor state = dev(h0);
                double[] o = new double[B * steps * H * V];
                for (int t = 0; t < steps; t++) {
                    Tensor ot = gk.decode(
                            dev(Views.contiguous(Views.narrow(q, 1, t, 1))),
                            dev(Views.contiguous(Views.narrow(k, 1, t, 1))),
                            dev(Views.contiguous(Views.narrow(v, 1, t, 1))),
                            dev(Views.contiguous(Views.narrow(g, 1, t, 1))),
                            0.25,
                            state);
                    double[] x = ZooCheck.host(ot);
                    for (int b = 0; b < B; b++) System.arraycopy(x, b * H * V, o, (b * steps + t) * H * V, H * V);
                }
                double tol = dt == DType.F32 ? 1e-5 : 1e-2;
                new ZooCheck.Report("gla decode " + dt + " B=" + B + " H=" + H + " K=" + K + " V=" + V + " " + steps
                                + " steps")
                        .check("o", o, ref.output().toDoubleArray(), tol)
                        .check("state", state, ref.finalState().toDoubleArray(), 1e-5)
                        .verify();
            }
        }
    }
}
