package fulgur.models.lightnet;

import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.ops.Elementwise;
import fulgur.ops.Views;
import fulgur.tensor.Tensor;

/**
 * Multi-dimensional Toeplitz positional encoding (xmixers' MdTpe, as in LightNet) over a 2-D grid x [B, H, W, D]:
 * one {@link Tpe} per axis ("tpes.0" along W within each row, "tpes.1" along H within each column), outputs summed.
 * Choice for 2-D: each axis is causal, as xmixers' 1-D Tpe (a cell sees the cells to its left in its row and above it
 * in its column, exponentially decayed); the paper's image version may be symmetric [UNVERIFIED], which would only
 * add a reversed pass per axis. It is the image model's only positional signal — the global LightNet scan is
 * permutation-invariant.
 */
final class MdTpe extends Module {
    private final ModuleList<Tpe> tpes;

    MdTpe(int dim, int heads, double eps, LightNetInit init) {
        tpes = child("tpes", new ModuleList<>());
        tpes.add(new Tpe(dim, heads, eps, init));
        tpes.add(new Tpe(dim, heads, eps, init));
    }

    /** x [B, H, W, D] → the summed per-axis encodings [B, H, W, D]. */
    Tensor forward(Tensor x) {
        int b = x.size(0), h = x.size(1), w = x.size(2), d = x.size(3);
        Tensor rows = Views.reshape(tpes.get(0).forward(Views.reshape(x, b * h, w, d)), b, h, w, d);
        Tensor byColumn = Views.reshape(Views.contiguous(Views.permute(x, 0, 2, 1, 3)), b * w, h, d);
        Tensor cols = Views.permute(Views.reshape(tpes.get(1).forward(byColumn), b, w, h, d), 0, 2, 1, 3);
        return Elementwise.add(rows, cols);
    }
}
