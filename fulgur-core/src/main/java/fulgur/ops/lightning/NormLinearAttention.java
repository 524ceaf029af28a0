package fulgur.ops.lightning;

import fulgur.autograd.Autograd;
import fulgur.backend.Kernels;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Norms;
import fulgur.ops.Views;
import fulgur.tensor.Tensor;

/**
 * TransNormerLLM's NormLinearAttention after its fused projection, as one autograd op: from qkvu [B, T, 4·H·d],
 * q, k, v, u = its four parts, o = lightning(silu(q), silu(k), v) over the whole sequence (no states) and
 * y = rmsNorm(o)·gain ⊙ u [B, T, H·d]. On a device with {@link NormLinearAttentionKernels} v and u are read where
 * they lie and the gradient of qkvu is written in one buffer; elsewhere the same composition of ops.
 */
public final class NormLinearAttention {
    private NormLinearAttention() {}

    /**
     * @param qkvu [B, T, 4·H·d]
     * @param heads H
     * @param slopes per head, λ_h = exp(−slopes[h])
     * @param scale the attention's scale
     * @param gain the norm's gain [H·d], or null
     * @param eps the norm's ε
     * @return y [B, T, H·d]
     */
    public static Tensor apply(Tensor qkvu, int heads, double[] slopes, double scale, Tensor gain, double eps) {
        String op = "normLinearAttention";
        qkvu.checkAlive(op);
        if (qkvu.ndim() != 3 || heads < 1 || qkvu.size(2) % (4 * heads) != 0) {
            throw new IllegalArgumentException(
                    op + ": qkvu " + qkvu.describe() + " is not [B, T, 4·H·d] for " + heads + " heads");
        }
        if (slopes.length != heads) {
            throw new IllegalArgumentException(op + ": " + slopes.length + " slopes for " + heads + " heads");
        }
        NormLinearAttentionKernels k = Kernels.find(NormLinearAttentionKernels.class, qkvu.device());
        if (k == null || !k.supports(qkvu, heads)) {
            return composed(qkvu, heads, slopes, scale, gain, eps);
        }
        Tensor[] r = k.forward(qkvu, heads, slopes, scale, gain, eps);
        Tensor[] saved = java.util.Arrays.copyOfRange(r, 1, r.length);
        return Autograd.record(
                op, r[0], new Tensor[] {qkvu, gain}, g -> k.backward(qkvu, heads, slopes, scale, gain, saved, g));
    }

    /** The op from its parts: slices, SiLU, {@link Lightning#chunked}, {@link Norms#rmsNorm}, the product with u. */
    static Tensor composed(Tensor qkvu, int heads, double[] slopes, double scale, Tensor gain, double eps) {
        int b = qkvu.size(0), t = qkvu.size(1), hidden = qkvu.size(2) / 4, d = hidden / heads;
        Tensor[] parts = Views.chunk(qkvu, -1, 4);
        Tensor q = Views.reshape(Activations.silu(parts[0]), b, t, heads, d);
        Tensor k = Views.reshape(Activations.silu(parts[1]), b, t, heads, d);
        Tensor v = Views.reshape(parts[2].contiguous(), b, t, heads, d);
        Tensor o = Lightning.chunked(q, k, v, slopes, scale, null, false, LightningChunked.DEFAULT_BLOCK, null)
                .output();
        // norm then product (not the gated-norm kernel, whose f64 row pass is slower than the two at bf16)
        return Elementwise.mul(parts[3], Norms.rmsNorm(Views.reshape(o, b, t, hidden), gain, eps));
    }
}
