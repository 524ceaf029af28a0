package fulgur.models.lcsm;

import fulgur.nn.LayerNorm;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.Parameter;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Views;
import fulgur.ops.lcsm.Lcsm;
import fulgur.ops.lightning.LightningDecay;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * The LCSM Expand–Oscillation–Shrink token mixer (official {@code EosLayer}): prepares i, e, o, s from x according
 * to c/e/o/s/t_type (see {@link LcsmConfig}), runs the scan m_t = o_t ⊙ m_{t−1} + e_t i_tᵀ, y_t = m_tᵀ s_t, then
 * LayerNorm and the output projection. Child names are the official ones (i_proj, e_proj or e, o / o_proj /
 * o1_proj, o2_proj, s_proj or s, inter_proj.0/.1, norm, output_proj).
 *
 * <p>Differences from the official code, all fixes of evident bugs there: {@code prepare} returns an undefined
 * {@code f} instead of o; o_type 2/3/6–9 call {@code o.logsigmoid} on an undefined o (we use logsigmoid of the
 * projection); o_type 2/3 without τ read an undefined {@code gamma_f} (we use gamma_o); o_type 0 with fixed slopes
 * negates the already negative ALiBi slopes, giving o = e^{+slope} > 1 (a diverging memory) — we use e^{−slope} as
 * o_type 4/5 do. Fixed (not learned) tensors (ALiBi slopes, the all-ones o) are constants here, not parameters.
 */
final class EosLayer extends Module {
    private final LcsmConfig c;
    private final int d;
    private final int k;
    private final Linear iProj;
    private Linear eProj;
    private Parameter e;
    private Linear sProj;
    private Parameter s;
    private Linear oProj;
    private Linear o1Proj;
    private Linear o2Proj;
    private Parameter o;
    private Tensor fixedLogO; // constant log o (o_type 0/4/5 not learned; 10 = zeros)
    private double[] gammaD; // use_tau = false: log o = σ(W x)·γ with γ the (negative) ALiBi slopes
    private double[] gammaK;
    private ModuleList<Linear> interProj;
    private final LayerNorm norm;
    private final Linear outputProj;

    EosLayer(LcsmConfig c, Rng rng) {
        this.c = c;
        this.d = c.embedDim();
        this.k = c.expandDim();
        boolean bias = c.bias();
        iProj = child("i_proj", new Linear(d, d, bias, rng));
        if (c.cType() == 1) {
            if (c.eType() == 1) {
                eProj = child("e_proj", new Linear(d, k, bias, rng));
            } else {
                e = param("e", rng.normal(DType.F32, 0, 0.1, k, d));
            }
            switch (c.oType()) {
                case 0 -> {
                    if (c.oLearned()) {
                        o = param("o", rng.normal(DType.F32, 0, 0.1, k, d));
                    } else {
                        fixedLogO = Tensor.of(DType.F32, negSlopes(k * d), 1, 1, k, d);
                    }
                }
                case 1 -> {
                    o1Proj = child("o1_proj", new Linear(d, d, bias, rng));
                    o2Proj = child("o2_proj", new Linear(d, k, bias, rng));
                    gammaD = negSlopes(d);
                    gammaK = negSlopes(k);
                }
                case 2 -> {
                    oProj = child("o_proj", new Linear(d, d, bias, rng));
                    gammaD = negSlopes(d);
                }
                case 3 -> {
                    oProj = child("o_proj", new Linear(d, k, bias, rng));
                    gammaK = negSlopes(k);
                }
                case 4 -> {
                    if (c.oLearned()) {
                        o = param("o", rng.normal(DType.F32, 0, 0.1, k), false);
                    } else {
                        fixedLogO = Tensor.of(DType.F32, negSlopes(k), 1, 1, k, 1);
                    }
                }
                case 5 -> {
                    if (c.oLearned()) {
                        o = param("o", rng.normal(DType.F32, 0, 0.1, d), false);
                    } else {
                        fixedLogO = Tensor.of(DType.F32, negSlopes(d), 1, 1, 1, d);
                    }
                }
                case 6 -> {
                    oProj = child("o_proj", new Linear(d, k, bias, rng));
                    o = param("o", rng.normal(DType.F32, 0, 0.1, k, d));
                }
                case 7 -> {
                    oProj = child("o_proj", new Linear(d, d, bias, rng));
                    o = param("o", rng.normal(DType.F32, 0, 0.1, k, d));
                }
                case 8 -> {
                    oProj = child("o_proj", new Linear(d, d, bias, rng));
                    o = param("o", rng.normal(DType.F32, 0, 0.1, k), false);
                }
                case 9 -> {
                    oProj = child("o_proj", new Linear(d, k, bias, rng));
                    o = param("o", rng.normal(DType.F32, 0, 0.1, d), false);
                }
                case 10 -> fixedLogO = Tensor.zeros(DType.F32, 1, 1, 1, 1);
                default -> throw new IllegalArgumentException("EosLayer: o_type " + c.oType() + " is not supported");
            }
            if (fixedLogO != null) {
                fulgur.tensor.Scope.root().adopt(fixedLogO);
            }
            if (c.sType() == 1) {
                sProj = child("s_proj", new Linear(d, k, bias, rng));
            } else {
                s = param("s", rng.normal(DType.F32, 0, 0.1, k, d));
            }
        } else {
            interProj = child("inter_proj", new ModuleList<>());
            interProj.add(new Linear(d, c.ssmDim(), bias, rng));
            interProj.add(new Linear(c.ssmDim(), d, bias, rng));
            double[] logA = new double[k * d];
            for (int r = 0; r < k; r++) {
                java.util.Arrays.fill(logA, r * d, (r + 1) * d, Math.log(r + 1));
            }
            o = param("o", Tensor.of(DType.F32, logA, k, d), false);
            eProj = child("e_proj", new Linear(d, k, bias, rng));
            sProj = child("s_proj", new Linear(d, k, bias, rng));
        }
        norm = child("norm", new LayerNorm(d, 1e-5, true));
        outputProj = child("output_proj", new Linear(d, d, bias, rng));
    }

    /** The official {@code _build_slope_tensor(n)}: minus the ALiBi slopes of n "heads" (so log o < 0). */
    static double[] negSlopes(int n) {
        double[] sl = LightningDecay.slopes(n);
        for (int i = 0; i < sl.length; i++) {
            sl[i] = -sl[i];
        }
        return sl;
    }

    /** The scan inputs {i [B,T,d], e, logO, s (rank 4, broadcastable to [B,T,k,d])} for x [B, T, d]. */
    Tensor[] prepare(Tensor x) {
        Tensor i = iProj.forward(x);
        if (c.cType() == 0) {
            Tensor delta = Activations.softplus(
                    interProj.get(1).forward(interProj.get(0).forward(x)));
            i = Elementwise.mul(delta, i);
            Tensor a = Elementwise.neg(Elementwise.exp(cast(o.value(), x)));
            Tensor logO = Elementwise.mul(Views.unsqueeze(delta, 2), a);
            return new Tensor[] {i, Views.unsqueeze(eProj.forward(x), 3), logO, Views.unsqueeze(sProj.forward(x), 3)};
        }
        Tensor ev =
                eProj != null ? Views.unsqueeze(eProj.forward(x), 3) : Views.reshape(cast(e.value(), x), 1, 1, k, d);
        Tensor sv =
                sProj != null ? Views.unsqueeze(sProj.forward(x), 3) : Views.reshape(cast(s.value(), x), 1, 1, k, d);
        ev = transform(ev);
        sv = transform(sv);
        double tau = c.tau();
        Tensor logO = switch (c.oType()) {
            case 0, 4, 5 -> {
                if (fixedLogO != null) {
                    yield cast(fixedLogO, x);
                }
                int[] shape = c.oType() == 0
                        ? new int[] {1, 1, k, d}
                        : c.oType() == 4 ? new int[] {1, 1, k, 1} : new int[] {1, 1, 1, d};
                if (c.oType() == 0 && !c.useTau()) {
                    yield Views.reshape(Elementwise.neg(cast(o.value(), x)), shape); // official: o = exp(−o_param)
                }
                yield Views.reshape(Elementwise.mulScalar(Activations.logSigmoid(cast(o.value(), x)), 1 / tau), shape);
            }
            case 1 ->
                Elementwise.add(
                        Views.unsqueeze(gate(o1Proj.forward(x), gammaD), 2),
                        Views.unsqueeze(gate(o2Proj.forward(x), gammaK), 3));
            case 2 -> Views.unsqueeze(gate(oProj.forward(x), gammaD), 2);
            case 3 -> Views.unsqueeze(gate(oProj.forward(x), gammaK), 3);
            case 6 -> logSigTau(Elementwise.mul(Views.unsqueeze(oProj.forward(x), 3), cast(o.value(), x)));
            case 7 -> logSigTau(Elementwise.mul(Views.unsqueeze(oProj.forward(x), 2), cast(o.value(), x)));
            case 8 ->
                logSigTau(
                        Elementwise.mul(Views.unsqueeze(oProj.forward(x), 2), Views.reshape(cast(o.value(), x), k, 1)));
            case 9 ->
                logSigTau(
                        Elementwise.mul(Views.unsqueeze(oProj.forward(x), 3), Views.reshape(cast(o.value(), x), 1, d)));
            case 10 -> cast(fixedLogO, x);
            default -> throw new IllegalStateException("o_type " + c.oType());
        };
        return new Tensor[] {i, ev, logO, sv};
    }

    /** A constant in the input's dtype and on its device (constants are built on the CPU and are not parameters). */
    private static Tensor cast(Tensor t, Tensor like) {
        Tensor c = t.dtype() == like.dtype() ? t : Views.cast(t, like.dtype());
        return c.device().equals(like.device()) ? c : c.to(like.device());
    }

    private Tensor logSigTau(Tensor z) {
        return Elementwise.mulScalar(Activations.logSigmoid(z), 1 / c.tau());
    }

    /** log o of a data-dependent gate: logσ(z)/τ, or σ(z)·γ without τ. */
    private Tensor gate(Tensor z, double[] gamma) {
        if (c.useTau()) {
            return logSigTau(z);
        }
        return Elementwise.mul(
                Activations.sigmoid(z),
                Tensor.of(z.dtype(), gamma, gamma.length).to(z.device()));
    }

    private Tensor transform(Tensor x) {
        return switch (c.tType()) {
            case 0 -> x;
            case 1 -> Activations.relu(x);
            case 2 -> Activations.sigmoid(x);
            case 3 -> Elementwise.addScalar(elu(x), 1);
            case 4 -> Activations.silu(x);
            case 5 -> elu(x);
            case 6 -> Elementwise.square(Activations.relu(x));
            case 7 -> Elementwise.square(x);
            default -> throw new IllegalStateException("t_type " + c.tType());
        };
    }

    /** ELU(x) = x for x > 0, eᵡ − 1 otherwise, as relu(x) + exp(min(x, 0)) − 1. */
    private static Tensor elu(Tensor x) {
        Tensor zero = Tensor.zeros(x.dtype(), x.device(), 1);
        return Elementwise.addScalar(
                Elementwise.add(Activations.relu(x), Elementwise.exp(Elementwise.minimum(x, zero))), -1);
    }

    /** The scan's output y [B, T, d] and final memory, from an optional initial memory [B, k, d]. */
    Lcsm.Result mix(Tensor x, Tensor m0) {
        Tensor[] p = prepare(x);
        Tensor state = m0 == null ? null : cast(m0, x);
        return Lcsm.scan(p[0], p[1], p[2], p[3], state);
    }

    /** x [B, T, d] → (output [B, T, d], final memory). */
    Lcsm.Result forward(Tensor x, Tensor m0) {
        Lcsm.Result r = mix(x, m0);
        return new Lcsm.Result(outputProj.forward(norm.forward(r.output())), r.finalState());
    }

    int expandDim() {
        return k;
    }
}
