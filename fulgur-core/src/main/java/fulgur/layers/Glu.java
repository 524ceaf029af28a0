package fulgur.models.tnl;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.Elementwise;
import fulgur.tensor.Tensor;

/** TNL's SGLU channel mixer: l3(l1(x) ⊙ l2(x)), no activation. */
final class Glu extends Module {
    private final Linear l1;
    private final Linear l2;
    private final Linear l3;

    Glu(int dim, int gluDim, boolean bias, TnlInit init) {
        l1 = child("l1", init.linear(dim, gluDim, bias));
        l2 = child("l2", init.linear(dim, gluDim, bias));
        l3 = child("l3", init.linear(gluDim, dim, bias));
    }

    Tensor forward(Tensor x) {
        return l3.forward(Elementwise.mul(l1.forward(x), l2.forward(x)));
    }
}
