package fulgur.models.tnl;

import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.ops.Elementwise;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;

/**
 * Linearized relative positional encoding as in the official TNL code: x → [x⊙cos(θn), x⊙sin(θn)] (feature
 * dimension doubles), θ [H, 1, d] learnable, initialised 10000^(−2i/(H·d)) over the flattened (head, dim) index.
 */
final class Lrpe extends Module {
    private final Parameter theta;
    private final int heads;
    private final int dim;

    Lrpe(int heads, int dim) {
        this.heads = heads;
        this.dim = dim;
        int d = heads * dim;
        float[] init = new float[d];
        for (int i = 0; i < d; i++) {
            init[i] = (float) Math.pow(10000, -2.0 / d * i);
        }
        this.theta = param("theta", Tensor.of(init, heads, 1, dim), false);
    }

    /**
     * x [B, T, H, d] → [B, T, H, 2d], row b at positions offsets[b]..offsets[b]+T−1 (one offset: the same for every
     * row). The angle of position p = o + i is split: cos/sin of i·θ over the call's own T positions, rotated by the
     * angle of the offset o·θ, which is formed in f64 from the exact long position. So the encoding is as precise at
     * position 2³¹ as at 0 (f32 positions would round to multiples of 256 there), and a sequence walked in chunks or
     * split over ranks gets the angles of one pass over the whole of it to rounding.
     */
    Tensor forward(Tensor x, long[] offsets) {
        int t = x.size(1);
        int rows = offsets.length;
        if (rows != 1 && rows != x.size(0)) {
            throw new IllegalArgumentException("lrpe: " + rows + " position offsets for " + x.size(0) + " rows");
        }
        DType ct = theta.value().dtype() == DType.F64 ? DType.F64 : DType.F32;
        Tensor th = Views.reshape(cast(theta.value(), ct), heads, dim);
        double[] local = new double[t];
        for (int i = 0; i < t; i++) {
            local[i] = i;
        }
        Tensor angle = Elementwise.mul(onDevice(Tensor.of(ct, local, t, 1, 1), x), th); // [T, H, d]
        Tensor cos = Elementwise.cos(angle);
        Tensor sin = Elementwise.sin(angle);
        boolean moved = false;
        for (long o : offsets) {
            moved |= o != 0;
        }
        if (moved || rows > 1) {
            double[] at = new double[rows];
            for (int r = 0; r < rows; r++) {
                at[r] = offsets[r]; // exact below 2⁵³
            }
            Tensor base = Elementwise.mul(
                    onDevice(Tensor.of(DType.F64, at, rows, 1, 1, 1), x), cast(th, DType.F64)); // [rows, 1, H, d]
            Tensor c0 = cast(Elementwise.cos(base), ct);
            Tensor s0 = cast(Elementwise.sin(base), ct);
            Tensor c = Elementwise.sub(Elementwise.mul(c0, cos), Elementwise.mul(s0, sin)); // cos(oθ + iθ)
            Tensor s = Elementwise.add(Elementwise.mul(s0, cos), Elementwise.mul(c0, sin)); // sin(oθ + iθ)
            cos = rows == 1 ? Views.reshape(c, t, heads, dim) : c;
            sin = rows == 1 ? Views.reshape(s, t, heads, dim) : s;
        }
        Tensor c = Elementwise.mul(x, cast(cos, x.dtype()));
        Tensor s = Elementwise.mul(x, cast(sin, x.dtype()));
        return Views.concat(-1, c, s);
    }

    private static Tensor cast(Tensor t, DType dt) {
        return t.dtype() == dt ? t : Views.cast(t, dt);
    }

    private static Tensor onDevice(Tensor t, Tensor like) {
        return t.device().equals(like.device()) ? t : t.to(like.device());
    }
}
