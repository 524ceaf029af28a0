package fulgur.ops.lightnet;

import fulgur.ops.Elementwise;
import fulgur.ops.Indexing;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;

/**
 * The exponential Toeplitz mixing behind LightNet's TPE / MD-TPE: along one axis of x [B, L, H, d],
 * <pre>
 *   o_t = c_h · Σ_{s≤t} λ_h^{t−s} x_s        λ_h = e^{logDecay_h} (logDecay ≤ 0), c_h a per-head scalar
 * </pre>
 * i.e. a parameter-only lightning attention whose query and key do not depend on the token (xmixers' Tpe, where
 * c_h = q_h·k_h). Built as the [H, L, L] Toeplitz matrix (masked in the exponent, so λ^{t−s} for s > t is never
 * formed) and one batched product: O(L²) per axis, meant for the short axes of an image grid.
 */
public final class Toeplitz {
    private Toeplitz() {}

    /**
     * @param x        [B, L, H, d]
     * @param coef     [H] per-head scale c_h
     * @param logDecay [H] log λ_h, ≤ 0 (e.g. logSigmoid of a parameter)
     */
    public static Tensor causal(Tensor x, Tensor coef, Tensor logDecay) {
        String op = "toeplitz.causal";
        if (x.ndim() != 4) {
            throw new IllegalArgumentException(op + ": x must be [B, L, H, d], got " + x.describe());
        }
        int l = x.size(1), h = x.size(2);
        if (coef.ndim() != 1 || coef.size(0) != h) {
            throw new IllegalArgumentException(op + ": coef must be [" + h + "], got " + coef.describe());
        }
        if (logDecay.ndim() != 1 || logDecay.size(0) != h) {
            throw new IllegalArgumentException(op + ": logDecay must be [" + h + "], got " + logDecay.describe());
        }
        DType ct = x.dtype() == DType.F64 ? DType.F64 : DType.F32;
        double[] dist = new double[l * l];
        for (int t = 0; t < l; t++) {
            for (int s = 0; s < l; s++) {
                dist[t * l + s] = t - s;
            }
        }
        Tensor distance = Tensor.of(ct, dist, l, l).to(x.device());
        Tensor future = Indexing.causalMask(l).to(ct).to(x.device());
        Tensor exponent = Elementwise.mul(distance, Views.reshape(logDecay.to(ct), h, 1, 1)); // [H, L, L]
        Tensor m = Elementwise.mul(
                Elementwise.exp(Indexing.maskedFill(exponent, future, Double.NEGATIVE_INFINITY)),
                Views.reshape(coef.to(ct), h, 1, 1));
        Tensor xh = Views.contiguous(Views.permute(x.dtype() == ct ? x : x.to(ct), 0, 2, 1, 3)); // [B, H, L, d]
        Tensor o = Views.contiguous(Views.permute(LinearAlgebra.matmul(m, xh), 0, 2, 1, 3));
        return o.dtype() == x.dtype() ? o : o.to(x.dtype());
    }
}
