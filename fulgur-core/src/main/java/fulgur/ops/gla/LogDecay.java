package fulgur.ops.gla;

import fulgur.autograd.Autograd;
import fulgur.backend.Kernels;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;

/**
 * The log decay and key of a sigmoid forget gate, as gated linear attention takes them (HGRN2's forget gate with its
 * layer's lower bound, MetaLA's decay with its normaliser τ):
 * <pre>
 *   g = log(β + (1 − β) σ(f)) / τ = logaddexp(log β, log(1 − β) + log σ(f)) / τ      k = 1 − e^g
 * </pre>
 * g is a log decay near 0 that a 16-bit dtype would round away (bf16 keeps 8 bits: log(1 + 0.003) is 0 there), so it
 * is computed and returned in f32 (f64 for f64 f) whatever f's dtype; k returns in f's dtype. The device's
 * {@link LogDecayKernels} do it in one pass where it has them; otherwise elementwise ops compose it (on f converted to
 * f32 when it is 16-bit). Gradients reach f and β.
 */
public final class LogDecay {
    private LogDecay() {}

    /** {g, k} from f [..., D], β [D] in [0, 1) or null (then g = log σ(f) / τ), and τ &gt; 0. */
    public static Tensor[] gate(Tensor f, Tensor beta, double tau) {
        String op = "logDecay";
        f.checkAlive(op);
        if (!f.dtype().isFloating() || f.ndim() < 1) {
            throw new IllegalArgumentException(op + ": f must be a floating tensor [..., D], got " + f.describe());
        }
        if (beta != null) {
            beta.checkAlive(op);
            if (beta.ndim() != 1
                    || beta.size(0) != f.size(f.ndim() - 1)
                    || !beta.dtype().isFloating()
                    || !beta.device().equals(f.device())) {
                throw new IllegalArgumentException(op + ": the lower bound must be a floating [" + f.size(f.ndim() - 1)
                        + "] on " + f.device() + ", got " + beta.describe());
            }
        }
        if (!(tau > 0) || Double.isInfinite(tau)) {
            throw new IllegalArgumentException(op + ": tau must be finite and > 0, got " + tau);
        }
        LogDecayKernels kn = Kernels.find(LogDecayKernels.class, f.device());
        if (kn == null || !kn.supports(f, beta)) {
            return composed(f, beta, tau);
        }
        Tensor fc = f.isContiguous() ? f : f.contiguous();
        Tensor[] gk = kn.forward(fc, beta, tau);
        Tensor[] in = {fc, beta};
        // two nodes over one kernel pass: each backward brings its own output's gradient
        Tensor g = Autograd.record(op, gk[0], in, dg -> kn.backward(fc, beta, tau, dg, null));
        Tensor k = Autograd.record(op, gk[1], in, dk -> kn.backward(fc, beta, tau, null, dk));
        return new Tensor[] {g, k};
    }

    /** The same from elementwise ops (autograd through each). */
    static Tensor[] composed(Tensor f, Tensor beta, double tau) {
        DType ct = f.dtype() == DType.F64 ? DType.F64 : DType.F32;
        Tensor x = f.dtype() == ct ? f : f.to(ct);
        Tensor g = Activations.logSigmoid(x);
        if (beta != null) {
            Tensor b = beta.dtype() == ct ? beta : beta.to(ct);
            // log(β + (1−β)σ(f)) = logaddexp(log β, log(1−β) + log σ(f)), as fla computes it
            Tensor a = Elementwise.log(b);
            Tensor c = Elementwise.add(Elementwise.log(Elementwise.addScalar(Elementwise.neg(b), 1)), g);
            Tensor spread = Elementwise.abs(Elementwise.sub(a, c));
            g = Elementwise.add(
                    Elementwise.maximum(a, c),
                    Elementwise.log(Elementwise.addScalar(Elementwise.exp(Elementwise.neg(spread)), 1)));
        }
        if (tau != 1) {
            g = Elementwise.mulScalar(g, 1 / tau);
        }
        Tensor k = Elementwise.addScalar(Elementwise.neg(Elementwise.exp(g)), 1);
        return new Tensor[] {g, k.dtype() == f.dtype() ? k : k.to(f.dtype())};
    }
}
