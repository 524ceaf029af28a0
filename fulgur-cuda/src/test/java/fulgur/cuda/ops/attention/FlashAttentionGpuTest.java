package fulgur.cuda.ops.attention;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import fulgur.backend.Backends;
import fulgur.backend.StepGraph;
import fulgur.cuda.BackendCheck;
import fulgur.cuda.CudaBackend;
import fulgur.cuda.CudaDevice;
import fulgur.cuda.ops.OutputCheck;
import fulgur.cuda.ops.attention.FlashAttention.Kernels;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The flash-attention kernels against the f64 reference: output, log-sum-exp and every gradient, bf16 in and out
 * (relative L2 error under 1e-2; the log-sum-exp, computed in f32 from exact products, under 1e-4). Every case runs
 * on each kernel family that applies here (mma.sync always; the warpgroup kernels on compute capability 9.0 for head
 * dims 64 and 128). Fresh N(0, 1) inputs per case; every output starts as NaN (the backend poisons its
 * allocations), so an unwritten element fails.
 */
@Tag("gpu")
class FlashAttentionGpuTest {
    static final double TOL = 1e-2, LSE_TOL = 1e-4;

    /** bf16 N(0, 1) values on the CPU. */
    static Tensor randn(Rng r, int... shape) {
        return r.normal(DType.F32, 0, 1, shape).to(DType.BF16);
    }

    static double[] host(Tensor t) {
        return t.toDoubleArray();
    }

    static final String FAMILIES = "fulgur.cuda.attention.testKernels";

    /**
     * The kernel families that run head dim d on this GPU, of those the system property {@value #FAMILIES} lists
     * (comma-separated, default mma_sync,wgmma: a GPU run can test each in its own process); none skips the test.
     */
    static List<Kernels> families(CudaBackend be, int d) {
        CudaDevice dev = be.context().device();
        List<Kernels> out = new ArrayList<>();
        for (String f : System.getProperty(FAMILIES, "mma_sync,wgmma").split(",")) {
            Kernels k = Kernels.valueOf(f.trim().toUpperCase(java.util.Locale.ROOT));
            if (k == Kernels.MMA_SYNC
                    || (k == Kernels.WGMMA && FlashAttention.wgmmaApplies(dev.ccMajor(), dev.ccMinor(), d))) out.add(k);
        }
        assumeTrue(!out.isEmpty(), "no kernel family under test for head dim " + d);
        return out;
    }

    /** Prints every check, then fails once with all the failed ones (so one family's failure does not hide another's). */
    static void verifyAll(List<OutputCheck> checks) {
        List<String> failed = new ArrayList<>();
        for (OutputCheck c : checks) {
            try {
                c.verify();
            } catch (AssertionError e) {
                failed.add(e.getMessage());
            }
        }
        if (!failed.isEmpty()) fail(String.join("\n", failed));
    }

    @ParameterizedTest(name = "B={0} Tq={1} Tk={2} H={3} Hkv={4} D={5} causal={6} layout={7}")
    @CsvSource({
        "2, 128, 128, 4, 4, 64, true, contiguous",
        "1, 1, 1, 2, 1, 64, true, contiguous",
        "2, 17, 17, 4, 2, 128, true, contiguous",
        "1, 100, 100, 8, 1, 64, false, contiguous",
        "2, 257, 257, 4, 1, 128, true, contiguous",
        "1, 257, 257, 2, 2, 32, true, contiguous",
        "1, 100, 100, 4, 2, 96, true, contiguous",
        "1, 17, 300, 4, 4, 128, true, contiguous",
        "1, 64, 40, 2, 2, 64, true, contiguous",
        "1, 64, 40, 2, 2, 64, false, contiguous",
        "2, 100, 100, 4, 2, 64, true, qkv-packed",
        "1, 1000, 1000, 2, 2, 128, true, contiguous",
        "8, 640, 640, 8, 4, 64, true, contiguous",
        "1, 300, 300, 16, 2, 128, false, qkv-packed",
        "1, 1000, 1000, 4, 1, 64, false, contiguous",
        "2, 700, 700, 4, 2, 64, true, contiguous",
        "1, 333, 333, 2, 2, 128, false, contiguous",
        "3, 129, 129, 2, 1, 64, true, qkv-packed",
        "1, 200, 1100, 2, 2, 128, true, contiguous",
    })
    void matchesTheReference(int b, int tq, int tk, int h, int hk, int d, boolean causal, String layout) {
        CudaBackend be = BackendCheck.gpu();
        Rng r = new Rng(31L * tq + 7L * tk + 3L * h + d + (causal ? 1 : 0));
        double scale = 1 / Math.sqrt(d);
        try (Scope s = Scope.open("flash")) {
            Tensor q, k, v;
            if (layout.equals("qkv-packed")) { // q, k, v as head-narrowed views of one [B, T, H + 2 Hkv, D] projection
                Tensor qkv = randn(r, b, tq, h + 2 * hk, d);
                Tensor all = qkv.to(GPU);
                q = all.narrow(2, 0, h);
                k = all.narrow(2, h, hk);
                v = all.narrow(2, h + hk, hk);
            } else {
                q = randn(r, b, tq, h, d).to(GPU);
                k = randn(r, b, tk, hk, d).to(GPU);
                v = randn(r, b, tk, hk, d).to(GPU);
            }
            Tensor dout = randn(r, b, tq, h, d);
            AttentionReference.Result ref =
                    AttentionReference.run(b, tq, tk, h, hk, d, host(q), host(k), host(v), host(dout), scale, causal);
            Tensor dOut = dout.to(GPU);
            List<OutputCheck> checks = new ArrayList<>();
            for (Kernels family : families(be, d)) {
                FlashAttention fa = new FlashAttention(be).withKernels(family);
                FlashAttention.Output out = fa.forward(q, k, v, scale, causal);
                FlashAttention.Gradients g = fa.backward(q, k, v, out.out(), out.lse(), dOut, scale, causal);
                OutputCheck c = new OutputCheck(String.format(
                        "flash attention [%s] B=%d Tq=%d Tk=%d H=%d Hkv=%d D=%d causal=%s %s",
                        family, b, tq, tk, h, hk, d, causal, layout));
                c.add("o", host(out.out()), ref.o(), TOL, b, tq, h, d);
                c.add("lse", host(out.lse()), ref.lse(), LSE_TOL, b, h, tq);
                c.add("dq", host(g.dq()), ref.dq(), TOL, b, tq, h, d);
                c.add("dk", host(g.dk()), ref.dk(), TOL, b, tk, hk, d);
                c.add("dv", host(g.dv()), ref.dv(), TOL, b, tk, hk, d);
                checks.add(c);
            }
            verifyAll(checks);
        }
    }

    @ParameterizedTest(name = "Tq={0} H={1} Hkv={2} D={3} causal={4}")
    @CsvSource({
        "100, 2, 1, 256, true",
        "257, 4, 4, 256, false",
    })
    void headDim256Forward(int t, int h, int hk, int d, boolean causal) {
        CudaBackend be = BackendCheck.gpu();
        FlashAttention fa =
                new FlashAttention(be).withKernels(families(be, d).getFirst()); // mma.sync: the only family at 256
        Rng r = new Rng(900L + t + d);
        double scale = 1 / Math.sqrt(d);
        try (Scope s = Scope.open("flash256")) {
            Tensor q = randn(r, 1, t, h, d).to(GPU),
                    k = randn(r, 1, t, hk, d).to(GPU),
                    v = randn(r, 1, t, hk, d).to(GPU);
            double[] zeros = new double[t * h * d];
            AttentionReference.Result ref =
                    AttentionReference.run(1, t, t, h, hk, d, host(q), host(k), host(v), zeros, scale, causal);
            FlashAttention.Output out = fa.forward(q, k, v, scale, causal);
            OutputCheck c = new OutputCheck(
                    "flash attention forward D=256 T=" + t + " H=" + h + " Hkv=" + hk + " causal=" + causal);
            c.add("o", host(out.out()), ref.o(), TOL, 1, t, h, d);
            c.add("lse", host(out.lse()), ref.lse(), LSE_TOL, 1, h, t);
            c.verify();
        }
    }

    @ParameterizedTest(name = "cuQ={0} cuK={1} H={2} Hkv={3} D={4} causal={5}")
    @CsvSource({
        "0 1 18 118 375, 0 1 18 118 375, 4, 2, 64, true",
        "0 1 18 118 375, 0 1 18 118 375, 4, 4, 128, false",
        "0 5 25 25 90, 0 40 100 130 200, 4, 1, 128, true",
        "0 300 301, 0 300 301, 2, 2, 32, true",
        "0 130 130 400 401 650, 0 130 130 400 401 650, 4, 1, 64, true",
        "0 7 300 310, 0 200 500 777, 2, 2, 128, true",
    })
    void packedSequences(String cuQs, String cuKs, int h, int hk, int d, boolean causal) {
        CudaBackend be = BackendCheck.gpu();
        int[] cuQ = java.util.Arrays.stream(cuQs.split(" "))
                .mapToInt(Integer::parseInt)
                .toArray();
        int[] cuK = java.util.Arrays.stream(cuKs.split(" "))
                .mapToInt(Integer::parseInt)
                .toArray();
        int tq = cuQ[cuQ.length - 1], tk = cuK[cuK.length - 1];
        Rng r = new Rng(77L + tq + tk + d);
        double scale = 1 / Math.sqrt(d);
        try (Scope s = Scope.open("packed")) {
            Tensor q = randn(r, 1, tq, h, d).to(GPU),
                    k = randn(r, 1, tk, hk, d).to(GPU),
                    v = randn(r, 1, tk, hk, d).to(GPU);
            Tensor dout = randn(r, 1, tq, h, d);
            AttentionReference.Result ref = AttentionReference.run(
                    1, tq, tk, h, hk, d, host(q), host(k), host(v), host(dout), scale, causal, cuQ, cuK);
            Tensor dOut = dout.to(GPU);
            List<OutputCheck> checks = new ArrayList<>();
            for (Kernels family : families(be, d)) {
                FlashAttention fa = new FlashAttention(be).withKernels(family);
                FlashAttention.Output out = fa.forwardPacked(q, k, v, cuQ, cuK, scale, causal);
                FlashAttention.Gradients g =
                        fa.backwardPacked(q, k, v, out.out(), out.lse(), dOut, cuQ, cuK, scale, causal);
                OutputCheck c = new OutputCheck("flash attention [" + family + "] packed cuQ=" + cuQs + " cuK=" + cuKs
                        + " H=" + h + " Hkv=" + hk + " D=" + d + " causal=" + causal);
                c.add("o", host(out.out()), ref.o(), TOL, 1, tq, h, d);
                c.add("lse", host(out.lse()), ref.lse(), LSE_TOL, 1, h, tq);
                c.add("dq", host(g.dq()), ref.dq(), TOL, 1, tq, h, d);
                c.add("dk", host(g.dk()), ref.dk(), TOL, 1, tk, hk, d);
                c.add("dv", host(g.dv()), ref.dv(), TOL, 1, tk, hk, d);
                checks.add(c);
            }
            verifyAll(checks);
        }
    }

    /** Forward and backward captured as a CUDA graph: a replay on new inputs gives what an eager run gives. */
    @Test
    void capturesAsACudaGraph() {
        CudaBackend be = BackendCheck.gpu();
        for (Kernels family : families(be, 64)) capturesAsACudaGraph(be, new FlashAttention(be).withKernels(family));
    }

    private static void capturesAsACudaGraph(CudaBackend be, FlashAttention fa) {
        int b = 2, t = 200, h = 4, hk = 2, d = 64;
        double scale = 0.125;
        Rng r = new Rng(4242);
        try (Scope s = Scope.open("graph")) {
            Tensor q = randn(r, b, t, h, d).to(GPU),
                    k = randn(r, b, t, hk, d).to(GPU),
                    v = randn(r, b, t, hk, d).to(GPU);
            Tensor dout = randn(r, b, t, h, d).to(GPU);
            FlashAttention.Output warm = fa.forward(q, k, v, scale, true); // loads the kernels outside the capture
            fa.backward(q, k, v, warm.out(), warm.lse(), dout, scale, true);
            Tensor[] held = new Tensor[4];
            try (StepGraph graph = Backends.runtime(GPU).capture(() -> {
                FlashAttention.Output o = fa.forward(q, k, v, scale, true);
                FlashAttention.Gradients g = fa.backward(q, k, v, o.out(), o.lse(), dout, scale, true);
                held[0] = o.out();
                held[1] = g.dq();
                held[2] = g.dk();
                held[3] = g.dv();
            })) {
                Tensor q2 = randn(r, b, t, h, d),
                        k2 = randn(r, b, t, hk, d),
                        v2 = randn(r, b, t, hk, d),
                        g2 = randn(r, b, t, h, d);
                q.copyFrom(q2);
                k.copyFrom(k2);
                v.copyFrom(v2);
                dout.copyFrom(g2);
                graph.replay();
                AttentionReference.Result ref =
                        AttentionReference.run(b, t, t, h, hk, d, host(q2), host(k2), host(v2), host(g2), scale, true);
                OutputCheck c = new OutputCheck("flash attention [" + fa.kernels() + "] replayed from a CUDA graph");
                c.add("o", host(held[0]), ref.o(), TOL, b, t, h, d);
                c.add("dq", host(held[1]), ref.dq(), TOL, b, t, h, d);
                c.add("dk", host(held[2]), ref.dk(), TOL, b, t, hk, d);
                c.add("dv", host(held[3]), ref.dv(), TOL, b, t, hk, d);
                c.verify();
            }
        }
    }

    /**
     * The warpgroup forward's settings (each its own build): without the softmax/product overlap, without the
     * warpgroups' turns, three consumer warpgroups (192 rows per CTA), a three-deep K/V ring.
     */
    @ParameterizedTest(name = "{0} B={1} T={2} H={3} Hkv={4} D={5} causal={6}")
    @CsvSource({
        "F90_OVERLAP=0, 2, 300, 4, 2, 64, true",
        "F90_OVERLAP=0, 1, 520, 2, 1, 128, false",
        "F90_PINGPONG=0, 1, 520, 2, 1, 128, true",
        "F90_WG=3, 2, 700, 4, 2, 64, true",
        "F90_STAGES=3, 1, 900, 2, 1, 64, true",
    })
    void warpgroupForwardSettings(String setting, int b, int t, int h, int hk, int d, boolean causal) {
        CudaBackend be = BackendCheck.gpu();
        assumeTrue(
                families(be, d).contains(Kernels.WGMMA),
                "the warpgroup kernels (compute capability 9.0) not under test");
        String[] kv = setting.split("=");
        FlashAttention fa = new FlashAttention(be).withKernels(Kernels.WGMMA).withDefines(Map.of(kv[0], kv[1]));
        Rng r = new Rng(500L + t + d + h);
        double scale = 1 / Math.sqrt(d);
        try (Scope s = Scope.open("flash-settings")) {
            Tensor q = randn(r, b, t, h, d).to(GPU),
                    k = randn(r, b, t, hk, d).to(GPU),
                    v = randn(r, b, t, hk, d).to(GPU);
            Tensor dout = randn(r, b, t, h, d);
            AttentionReference.Result ref =
                    AttentionReference.run(b, t, t, h, hk, d, host(q), host(k), host(v), host(dout), scale, causal);
            FlashAttention.Output out = fa.forward(q, k, v, scale, causal);
            FlashAttention.Gradients g = fa.backward(q, k, v, out.out(), out.lse(), dout.to(GPU), scale, causal);
            OutputCheck c = new OutputCheck("flash attention [WGMMA " + setting + "] B=" + b + " T=" + t + " H=" + h
                    + " Hkv=" + hk + " D=" + d + " causal=" + causal);
            c.add("o", host(out.out()), ref.o(), TOL, b, t, h, d);
            c.add("lse", host(out.lse()), ref.lse(), LSE_TOL, b, h, t);
            c.add("dq", host(g.dq()), ref.dq(), TOL, b, t, h, d);
            c.add("dv", host(g.dv()), ref.dv(), TOL, b, t, hk, d);
            c.verify();
        }
    }
}
