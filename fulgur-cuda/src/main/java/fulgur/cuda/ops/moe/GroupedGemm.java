package fulgur.cuda.ops.moe;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.Kernel;
import fulgur.cuda.ops.LaunchContext;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.Map;

/**
 * Matrix products over experts whose row counts live only on the device (kernels {@code moe_gemm_*} in
 * {@code moe.cu}): the rows of A are in expert order and expert e owns rows {@code [offsets[e], offsets[e+1])}
 * (i32 [E+1] on the device, as {@link MoeRouter} computes them). Weights are stacked {@code [E, N, K]} as in
 * {@code nn.Linear} (y = x Wᵀ). bf16 operands, f32 accumulation on tensor cores (128×128 tiles, mma.sync
 * m16n8k16). The grid is sized from the static row count (at most {@code ceil(M/128) + E} row tiles); each CTA
 * finds its expert from the offsets, and CTAs without rows exit, so no host read and no CUDA-graph breaks. Experts
 * with no rows are fine (their weight gradient is zero). K and N must be multiples of 8.
 */
public final class GroupedGemm {
    private static final int TILE = 128;
    private static final int SMEM = 2 * 4 * 128 * 32 * 2;

    private final LaunchContext lc;

    public GroupedGemm(CudaBackend backend) {
        this.lc = new LaunchContext(backend);
    }

    public static GroupedGemm on(Device device) {
        return new GroupedGemm((CudaBackend) LaunchContext.of(device).backend());
    }

    private Kernel kernel(String name) {
        return lc.kernel(MoeRouter.FILE, Map.of(), name);
    }

    /** Checks a stacked weight [E, N, K] and the offsets [E+1]; returns E. */
    static int checkWeight(String op, Tensor w, Tensor offsets) {
        if (w == null || offsets == null)
            throw new IllegalArgumentException(op + ": the weights and offsets must not be null");
        if (w.ndim() != 3 || w.dtype() != DType.BF16)
            throw new IllegalArgumentException(op + ": weights must be bf16 [E, N, K], got " + w.describe());
        if (offsets.ndim() != 1 || offsets.dtype() != DType.I32 || offsets.size(0) != w.size(0) + 1) {
            throw new IllegalArgumentException(op + ": offsets must be i32 [" + (w.size(0) + 1) + "] for " + w.size(0)
                    + " experts, got " + offsets.describe());
        }
        if (w.size(0) < 1 || w.size(0) > 65535)
            throw new IllegalArgumentException(op + ": 1 to 65535 experts, got " + w.describe());
        if (w.size(1) % 8 != 0 || w.size(2) % 8 != 0 || w.size(1) < 8 || w.size(2) < 8) {
            throw new IllegalArgumentException(
                    op + ": weight dims N and K must be positive multiples of 8, got " + w.describe());
        }
        return w.size(0);
    }

    static void checkMatrix(String op, String what, Tensor t, int cols) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " must not be null");
        if (t.ndim() != 2 || t.dtype() != DType.BF16 || t.size(1) != cols) {
            throw new IllegalArgumentException(
                    op + ": " + what + " must be bf16 [M, " + cols + "], got " + t.describe());
        }
    }

    private void onDevice(String op, Tensor... ts) {
        for (Tensor t : ts) lc.onDevice(op, "every operand", t);
    }

    /** y[m, :] = a[m, :] · W_eᵀ for the rows m of expert e: a [M, K], w [E, N, K] → [M, N]. */
    public Tensor forward(Tensor a, Tensor w, Tensor offsets) {
        String op = "groupedGemm.forward";
        checkWeight(op, w, offsets);
        checkMatrix(op, "a", a, w.size(2));
        Tensor c = lc.empty(DType.BF16, a.size(0), w.size(1));
        product(op, "moe_gemm_nt", a, w, offsets, c, w.size(1), w.size(2), false);
        return c;
    }

    /** {@link #forward} into c [M, N]; with {@code accumulate} c += the product. */
    public void forwardInto(Tensor a, Tensor w, Tensor offsets, Tensor c, boolean accumulate) {
        String op = "groupedGemm.forwardInto";
        checkWeight(op, w, offsets);
        checkMatrix(op, "a", a, w.size(2));
        checkOut(op, c, a.size(0), w.size(1));
        product(op, "moe_gemm_nt", a, w, offsets, c, w.size(1), w.size(2), accumulate);
    }

    /** dx[m, :] = dy[m, :] · W_e (the gradient of {@link #forward} for a): dy [M, N], w [E, N, K] → [M, K]. */
    public Tensor backwardInput(Tensor dy, Tensor w, Tensor offsets) {
        String op = "groupedGemm.backwardInput";
        checkWeight(op, w, offsets);
        checkMatrix(op, "dy", dy, w.size(1));
        Tensor c = lc.empty(DType.BF16, dy.size(0), w.size(2));
        product(op, "moe_gemm_nn", dy, w, offsets, c, w.size(2), w.size(1), false);
        return c;
    }

    /** {@link #backwardInput} into c [M, K]; with {@code accumulate} c += the product. */
    public void backwardInputInto(Tensor dy, Tensor w, Tensor offsets, Tensor c, boolean accumulate) {
        String op = "groupedGemm.backwardInputInto";
        checkWeight(op, w, offsets);
        checkMatrix(op, "dy", dy, w.size(1));
        checkOut(op, c, dy.size(0), w.size(2));
        product(op, "moe_gemm_nn", dy, w, offsets, c, w.size(2), w.size(1), accumulate);
    }

    private static void checkOut(String op, Tensor c, int m, int n) {
        if (c == null
                || c.ndim() != 2
                || c.dtype() != DType.BF16
                || c.size(0) != m
                || c.size(1) != n
                || !c.isContiguous()) {
            throw new IllegalArgumentException(op + ": the output must be a contiguous bf16 "
                    + Shape.str(new int[] {m, n}) + ", got " + (c == null ? "null" : c.describe()));
        }
    }

    private void product(
            String op, String kernel, Tensor a, Tensor w, Tensor offsets, Tensor c, int n, int k, boolean accumulate) {
        onDevice(op, a, w, offsets, c);
        int m = a.size(0);
        if (m == 0) return;
        int e = w.size(0);
        Tensor ac = lc.contiguous(a), wc = lc.contiguous(w), oc = lc.contiguous(offsets);
        try {
            long tiles = (m + TILE - 1) / TILE + (long) e;
            if (tiles > Integer.MAX_VALUE) throw new IllegalArgumentException(op + ": too many rows " + m);
            kernel(kernel)
                    .launch(
                            lc.stream(),
                            (int) tiles,
                            (n + TILE - 1) / TILE,
                            1,
                            128,
                            SMEM,
                            lc.ptr(ac, op),
                            lc.ptr(wc, op),
                            lc.ptr(c, op),
                            lc.ptr(oc, op),
                            e,
                            n,
                            k,
                            accumulate ? 1 : 0);
        } finally {
            LaunchContext.release(ac, a);
            LaunchContext.release(wc, w);
            LaunchContext.release(oc, offsets);
        }
    }

    /**
     * dW[e] = dy_eᵀ · a_e over the rows of expert e (the gradient of {@link #forward} for w): dy [M, N], a [M, K] →
     * [E, N, K] in {@code dtype} (f32 or bf16).
     */
    public Tensor backwardWeight(Tensor dy, Tensor a, Tensor offsets, DType dtype) {
        String op = "groupedGemm.backwardWeight";
        if (dtype != DType.F32 && dtype != DType.BF16)
            throw new IllegalArgumentException(op + ": dtype must be f32 or bf16, got " + dtype);
        checkWeightGradArgs(op, dy, a, offsets);
        Tensor dw = lc.empty(dtype, offsets.size(0) - 1, dy.size(1), a.size(1));
        weightProduct(op, dy, a, offsets, dw, false);
        return dw;
    }

    /** {@link #backwardWeight} into dw [E, N, K] (f32 or bf16); with {@code accumulate} dw += the product. */
    public void backwardWeightInto(Tensor dy, Tensor a, Tensor offsets, Tensor dw, boolean accumulate) {
        String op = "groupedGemm.backwardWeightInto";
        checkWeightGradArgs(op, dy, a, offsets);
        int e = offsets.size(0) - 1;
        if (dw == null
                || (dw.dtype() != DType.F32 && dw.dtype() != DType.BF16)
                || !dw.isContiguous()
                || !java.util.Arrays.equals(dw.shape(), new int[] {e, dy.size(1), a.size(1)})) {
            throw new IllegalArgumentException(
                    op + ": dw must be a contiguous f32 or bf16 " + Shape.str(new int[] {e, dy.size(1), a.size(1)})
                            + ", got " + (dw == null ? "null" : dw.describe()));
        }
        weightProduct(op, dy, a, offsets, dw, accumulate);
    }

    private static void checkWeightGradArgs(String op, Tensor dy, Tensor a, Tensor offsets) {
        if (dy == null || a == null || offsets == null)
            throw new IllegalArgumentException(op + ": dy, a and offsets must not be null");
        if (dy.ndim() != 2
                || a.ndim() != 2
                || dy.dtype() != DType.BF16
                || a.dtype() != DType.BF16
                || dy.size(0) != a.size(0)) {
            throw new IllegalArgumentException(op + ": dy and a must be bf16 [M, N] and [M, K] with the same M, got "
                    + dy.describe() + " and " + a.describe());
        }
        if (dy.size(1) % 8 != 0 || a.size(1) % 8 != 0 || dy.size(1) < 8 || a.size(1) < 8) {
            throw new IllegalArgumentException(
                    op + ": N and K must be positive multiples of 8, got " + dy.describe() + " and " + a.describe());
        }
        if (offsets.ndim() != 1 || offsets.dtype() != DType.I32 || offsets.size(0) < 2 || offsets.size(0) - 1 > 65535) {
            throw new IllegalArgumentException(
                    op + ": offsets must be i32 [E+1] with 1 <= E <= 65535, got " + offsets.describe());
        }
    }

    private void weightProduct(String op, Tensor dy, Tensor a, Tensor offsets, Tensor dw, boolean accumulate) {
        onDevice(op, dy, a, offsets, dw);
        int e = offsets.size(0) - 1, p = dy.size(1), q = a.size(1);
        Tensor dc = lc.contiguous(dy), ac = lc.contiguous(a), oc = lc.contiguous(offsets);
        try {
            kernel("moe_gemm_dw")
                    .launch(
                            lc.stream(),
                            (q + TILE - 1) / TILE,
                            (p + TILE - 1) / TILE,
                            e,
                            128,
                            SMEM,
                            lc.ptr(dc, op),
                            lc.ptr(ac, op),
                            lc.ptr(dw, op),
                            lc.ptr(oc, op),
                            p,
                            q,
                            dw.dtype() == DType.F32 ? 1 : 0,
                            accumulate ? 1 : 0);
        } finally {
            LaunchContext.release(dc, dy);
            LaunchContext.release(ac, a);
            LaunchContext.release(oc, offsets);
        }
    }
}
