package fulgur.cuda.ops.moe;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.Kernel;
import fulgur.cuda.ops.LaunchContext;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.util.Map;

/**
 * The gated FFN of every expert at once, on rows in expert order ({@code fulgur.nn.moe.MoeExpert}:
 * {@code y = w2(silu(w1 x) ⊙ w3 x)}), forward and backward, through {@link GroupedGemm} and the {@code moe_silu_mul}
 * kernels. Stacked weights: w1, w3 {@code [E, F, D]}, w2 {@code [E, D, F]} (each expert's {@code nn.Linear}
 * weights), bf16; rows x {@code [M, D]} bf16 with expert e owning rows {@code [offsets[e], offsets[e+1])}.
 */
public final class ExpertFfn {
    private final LaunchContext lc;
    private final GroupedGemm gemm;

    public ExpertFfn(CudaBackend backend) {
        this.lc = new LaunchContext(backend);
        this.gemm = new GroupedGemm(backend);
    }

    public static ExpertFfn on(Device device) {
        return new ExpertFfn((CudaBackend) LaunchContext.of(device).backend());
    }

    /** What the backward needs from the forward: h1 = x w1ᵀ, h3 = x w3ᵀ ([M, F] bf16). */
    public record Saved(Tensor h1, Tensor h3) implements AutoCloseable {
        @Override
        public void close() {
            h1.close();
            h3.close();
        }
    }

    public record Forward(Tensor y, Saved saved) {}

    /** Gradients: of the rows, and of the three stacked weights (in the dtype asked for). */
    public record Gradients(Tensor dx, Tensor dw1, Tensor dw3, Tensor dw2) implements AutoCloseable {
        @Override
        public void close() {
            dx.close();
            dw1.close();
            dw3.close();
            dw2.close();
        }
    }

    private Kernel kernel(String name) {
        return lc.kernel(MoeRouter.FILE, Map.of(), name);
    }

    static void checkWeights(String op, Tensor w1, Tensor w3, Tensor w2, Tensor offsets) {
        int e = GroupedGemm.checkWeight(op, w1, offsets);
        GroupedGemm.checkWeight(op, w3, offsets);
        GroupedGemm.checkWeight(op, w2, offsets);
        if (!java.util.Arrays.equals(w1.shape(), w3.shape())
                || w2.size(0) != e
                || w2.size(1) != w1.size(2)
                || w2.size(2) != w1.size(1)) {
            throw new IllegalArgumentException(op + ": expected w1, w3 [E, F, D] and w2 [E, D, F], got w1 "
                    + w1.describe() + ", w3 " + w3.describe() + ", w2 " + w2.describe());
        }
    }

    private int blocks(long n) {
        return (int) Math.max(1, Math.min((n / 8 + 255) / 256, (long) lc.multiprocessors() * 16));
    }

    public Forward forward(Tensor x, Tensor w1, Tensor w3, Tensor w2, Tensor offsets) {
        String op = "expertFfn.forward";
        checkWeights(op, w1, w3, w2, offsets);
        GroupedGemm.checkMatrix(op, "x", x, w1.size(2));
        Tensor h1 = gemm.forward(x, w1, offsets);
        Tensor h3 = gemm.forward(x, w3, offsets);
        Tensor h = lc.empty(DType.BF16, h1.shape());
        long n = h.numel();
        if (n > 0)
            kernel("moe_silu_mul")
                    .launch(lc.stream(), blocks(n), 1, 1, 256, 0, lc.ptr(h1, op), lc.ptr(h3, op), lc.ptr(h, op), n);
        Tensor y = gemm.forward(h, w2, offsets);
        h.close();
        return new Forward(y, new Saved(h1, h3));
    }

    public Gradients backward(
            Tensor dy, Tensor x, Tensor w1, Tensor w3, Tensor w2, Tensor offsets, Saved saved, DType weightGradType) {
        String op = "expertFfn.backward";
        checkWeights(op, w1, w3, w2, offsets);
        GroupedGemm.checkMatrix(op, "x", x, w1.size(2));
        GroupedGemm.checkMatrix(op, "dy", dy, w2.size(1));
        if (saved == null || saved.h1().numel() != (long) x.size(0) * w1.size(1)) {
            throw new IllegalArgumentException(
                    op + ": saved activations of [" + x.size(0) + ", " + w1.size(1) + "] expected");
        }
        Tensor h1 = saved.h1(), h3 = saved.h3();
        long n = h1.numel();
        Tensor h = lc.empty(DType.BF16, h1.shape());
        if (n > 0)
            kernel("moe_silu_mul")
                    .launch(lc.stream(), blocks(n), 1, 1, 256, 0, lc.ptr(h1, op), lc.ptr(h3, op), lc.ptr(h, op), n);
        Tensor dw2 = gemm.backwardWeight(dy, h, offsets, weightGradType);
        h.close();
        Tensor dh = gemm.backwardInput(dy, w2, offsets);
        Tensor dh1 = lc.empty(DType.BF16, h1.shape()), dh3 = lc.empty(DType.BF16, h1.shape());
        if (n > 0) {
            kernel("moe_silu_mul_bwd")
                    .launch(
                            lc.stream(),
                            blocks(n),
                            1,
                            1,
                            256,
                            0,
                            lc.ptr(h1, op),
                            lc.ptr(h3, op),
                            lc.ptr(dh, op),
                            lc.ptr(dh1, op),
                            lc.ptr(dh3, op),
                            n);
        }
        dh.close();
        Tensor dx = gemm.backwardInput(dh1, w1, offsets);
        gemm.backwardInputInto(dh3, w3, offsets, dx, true);
        Tensor dw1 = gemm.backwardWeight(dh1, x, offsets, weightGradType);
        Tensor dw3 = gemm.backwardWeight(dh3, x, offsets, weightGradType);
        dh1.close();
        dh3.close();
        return new Gradients(dx, dw1, dw3, dw2);
    }
}
