package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.tensor.Tensor;

/** RMSNorm (with or without gain) and LayerNorm over the last axis. */
public final class Norms {
    private Norms() {}

    /** x / sqrt(mean(x²) + eps), times gain when gain is not null. */
    public static Tensor rmsNorm(Tensor x, Tensor gain, double eps) {
        Indexing.checkAlive("rmsNorm", x, gain);
        Tensor[] r = x.backend().rmsNorm(x, gain, eps);
        Tensor rstd = r[1];
        return Autograd.record("rmsNorm", r[0], new Tensor[] {x, gain}, g -> x.backend().rmsNormBackward(x, gain, rstd, g));
    }

    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        Indexing.checkAlive("layerNorm", x, weight, bias);
        Tensor[] r = x.backend().layerNorm(x, weight, bias, eps);
        Tensor mean = r[1];
        Tensor rstd = r[2];
        return Autograd.record("layerNorm", r[0], new Tensor[] {x, weight, bias},
                g -> x.backend().layerNormBackward(x, weight, mean, rstd, g, bias != null));
    }
}
