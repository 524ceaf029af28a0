package fulgur.ops.lcsm;

import fulgur.autograd.GradMode;
import fulgur.ops.Elementwise;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.tensor.Tensor;

/**
 * The composed form of {@link LcsmKernels}, what {@link Lcsm#scan} runs on a device without them: the same
 * recurrences as the CPU kernel, token by token, composed from ops (no graph is recorded). Slow but runs on any
 * backend until it has its own kernel.
 */
public final class LcsmComposed {
    private LcsmComposed() {}

    public static Tensor forward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0) {
        try (var g = GradMode.noGrad()) {
            Lcsm.Result r = Lcsm.recurrent(i, e, logO, s, m0);
            return Views.concat(0, Views.reshape(r.output(), -1), Views.reshape(r.finalState(), -1));
        }
    }

    public static Tensor[] backward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0, Tensor packedGrad) {
        try (var ng = GradMode.noGrad()) {
            int b = i.size(0);
            int n = i.size(1);
            int d = i.size(2);
            int k = e.size(2);
            Tensor dy = Views.reshape(Views.narrow(packedGrad, 0, 0, b * n * d), b, n, d);
            Tensor acc = Views.reshape(Views.narrow(packedGrad, 0, b * n * d, b * k * d), b, k, d);
            Tensor[] states = new Tensor[n + 1];
            states[0] = m0 != null ? m0 : Tensor.zeros(i.dtype(), i.device(), b, k, d);
            Tensor u = Elementwise.mul(e, Views.unsqueeze(i, 2));
            Tensor o = Elementwise.exp(logO);
            for (int t = 0; t < n; t++) {
                states[t + 1] =
                        Elementwise.add(Elementwise.mul(Views.select(o, 1, t), states[t]), Views.select(u, 1, t));
            }
            Tensor[] ds = new Tensor[n];
            Tensor[] de = new Tensor[n];
            Tensor[] di = new Tensor[n];
            Tensor[] dlo = new Tensor[n];
            for (int t = n - 1; t >= 0; t--) {
                Tensor dyt = Views.unsqueeze(Views.select(dy, 1, t), 1); // [b, 1, d]
                acc = Elementwise.add(acc, Elementwise.mul(Views.select(s, 1, t), dyt));
                ds[t] = Elementwise.mul(dyt, states[t + 1]);
                de[t] = Elementwise.mul(acc, Views.unsqueeze(Views.select(i, 1, t), 1));
                di[t] = Reductions.sum(Elementwise.mul(acc, Views.select(e, 1, t)), new int[] {1}, false);
                Tensor ot = Views.select(o, 1, t);
                dlo[t] = Elementwise.mul(Elementwise.mul(acc, ot), states[t]);
                acc = Elementwise.mul(acc, ot);
            }
            return new Tensor[] {
                Views.stack(1, di), Views.stack(1, de), Views.stack(1, dlo), Views.stack(1, ds), m0 == null ? null : acc
            };
        }
    }
}
