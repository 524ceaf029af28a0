package fulgur.models.tnl;

import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.ops.Elementwise;
import fulgur.ops.Views;
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
     * row).
     */
    Tensor forward(Tensor x, long[] offsets) {
        int t = x.size(1);
        int rows = offsets.length;
        if (rows != 1 && rows != x.size(0)) {
            throw new IllegalArgumentException("lrpe: " + rows + " position offsets for " + x.size(0) + " rows");
        }
        float[] pos = new float[rows * t];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < t; i++) {
                pos[r * t + i] = offsets[r] + i;
            }
        }
        // one offset keeps the [T, 1, 1] table the training path has always used; rows of their own get [B, T, 1, 1]
        Tensor n = rows == 1 ? Tensor.of(pos, t, 1, 1) : Tensor.of(pos, rows, t, 1, 1);
        if (!x.device().equals(n.device())) {
            n = n.to(x.device());
        }
        Tensor angle = Elementwise.mul(n, Views.reshape(theta.value(), heads, dim)); // [T, H, d] or [B, T, H, d]
        Tensor c = Elementwise.mul(x, Elementwise.cos(angle));
        Tensor s = Elementwise.mul(x, Elementwise.sin(angle));
        return Views.concat(-1, c, s);
    }
}
