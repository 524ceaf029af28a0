package fulgur.ops.lightnet;

import fulgur.autograd.Autograd;
import fulgur.backend.Kernels;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Indexing;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * LightNet's additive recurrence ("You Only Scan Once", Qin et al. 2024) on tensors q, k [B, T, H, dk] and
 * v [B, T, H, dv], per channel a of the key:
 * <pre>
 *   z_t = log( e^{z_0} + Σ_{s≤t} e^{k_s} )            running log-sum-exp (z_0 = −∞ without an initial state)
 *   S_t[a,:] = e^{z_{t−1} − z_t} S_{t−1}[a,:] + e^{k_t − z_t} v_t     (S normalised: a softmax-weighted mean of v)
 *   o_t = q_t S_t
 * </pre>
 * so token s reaches t with weight e^{k_s − z_t} ≤ 1: a causal softmax over keys along time. The state is the pair
 * (S [B, H, dk, dv], z [B, H, dk]); gradients reach q, k, v and the initial state (S and z), from the output and the
 * final state. {@link #chunked}, {@link #recurrent} and {@link #global} are composed from device-agnostic autograd
 * ops (they run on any backend); {@link #apply} takes the device's fused kernel where there is one (the CPU's).
 * No exponential of a positive number is ever taken: every exponent is a key or a log-normaliser minus a later
 * (larger) log-normaliser, and the causal mask is applied to the exponent (−∞) before exponentiating.
 *
 * <p>Compute is f32 (f64 for f64 inputs); the output returns in q's dtype.
 */
public final class LightNet {
    /** Tokens per chunk of the chunked form; the intra-chunk weights take B·H·C²·dk elements. */
    public static final int DEFAULT_CHUNK = 32;

    private LightNet() {}

    /** The recurrent state: normalised state s [B, H, dk, dv] and log-normaliser z [B, H, dk]. */
    public record State(Tensor s, Tensor z) {
        /** Both detached (for caches). */
        public State detach() {
            return new State(s.detach(), z.detach());
        }
    }

    /** Output [B, T, H, dv] and, when asked for, the final state. */
    public record Result(Tensor output, State finalState) {}

    /** The op with no states: {@link #apply}. */
    public static Tensor attention(Tensor q, Tensor k, Tensor v) {
        return apply(q, k, v, null, false).output();
    }

    /**
     * The op as models use it: the device's fused kernel when it has one for these arguments ({@link LightNetKernels};
     * the CPU runs the recurrence in O(T·dk·dv) with a hand-written backward), else {@link #chunked} composed from other
     * ops. Same values and gradients either way.
     */
    public static Result apply(Tensor q, Tensor k, Tensor v, State initial, boolean wantFinal) {
        String op = "lightnet";
        int[] dims = check(op, q, k, v, initial);
        LightNetKernels be = Kernels.find(LightNetKernels.class, q.device());
        if (be == null || !be.supports(q, k, v)) {
            return chunked(q, k, v, initial, wantFinal, DEFAULT_CHUNK);
        }
        Tensor s0 = initial == null ? null : Views.contiguous(initial.s());
        Tensor z0 = initial == null ? null : Views.contiguous(initial.z());
        Tensor qc = Views.contiguous(q), kc = Views.contiguous(k), vc = Views.contiguous(v);
        Tensor packed = be.forward(qc, kc, vc, s0, z0, wantFinal);
        // output and final state share one buffer, so the triple is a single node of the graph
        Tensor node = Autograd.record(op, packed, new Tensor[] {qc, kc, vc, s0, z0}, g -> {
            Tensor[] d = be.backward(qc, kc, vc, s0, z0, wantFinal, g);
            return new Tensor[] {
                like(d[0], qc),
                like(d[1], kc),
                like(d[2], vc),
                d[3] == null ? null : like(d[3], s0),
                d[4] == null ? null : like(d[4], z0)
            };
        });
        int b = dims[0], t = dims[1], h = dims[2], dk = dims[3], dv = dims[4];
        int no = b * t * h * dv, ns = b * h * dk * dv, nz = b * h * dk;
        Tensor o = Views.reshape(Views.narrow(node, 0, 0, no), b, t, h, dv);
        if (o.dtype() != q.dtype()) {
            o = o.to(q.dtype());
        }
        State fin = wantFinal
                ? new State(
                        Views.reshape(Views.narrow(node, 0, no, ns), b, h, dk, dv),
                        Views.reshape(Views.narrow(node, 0, no + ns, nz), b, h, dk))
                : null;
        return new Result(o, fin);
    }

    private static Tensor like(Tensor grad, Tensor x) {
        return grad.dtype() == x.dtype() ? grad : grad.to(x.dtype());
    }

    /**
     * The training form. Within a chunk of C tokens, z comes from a masked log-sum-exp over the chunk's keys
     * combined with the previous chunk's last z, and the output from the exact weights e^{k_s − z_t} [C, C, dk];
     * between chunks only the normalised state and z are carried. Cost O(T·C·dk + T·dk·dv) per head.
     */
    public static Result chunked(Tensor q, Tensor k, Tensor v, State initial, boolean wantFinal, int chunk) {
        String op = "lightnet.chunked";
        int[] dims = check(op, q, k, v, initial);
        if (chunk <= 0) {
            throw new IllegalArgumentException(op + ": chunk must be positive, got " + chunk);
        }
        int t = dims[1];
        DType ct = computeType(q);
        Tensor qh = headsFirst(q, ct);
        Tensor kh = headsFirst(k, ct);
        Tensor vh = headsFirst(v, ct);
        Tensor sPrev = initial == null ? null : initial.s().to(ct);
        Tensor zPrev = initial == null ? null : initial.z().to(ct);
        List<Tensor> outs = new ArrayList<>();
        for (int t0 = 0; t0 < t; t0 += chunk) {
            int len = Math.min(chunk, t - t0);
            Tensor qc = Views.narrow(qh, 2, t0, len);
            Tensor kc = Views.narrow(kh, 2, t0, len);
            Tensor vc = Views.narrow(vh, 2, t0, len);
            Tensor future = Views.reshape(Indexing.causalMask(len).to(ct).to(q.device()), len, len, 1); // s > t
            Tensor kRow = Views.unsqueeze(kc, 2); // [B, H, 1(t), C(s), dk]
            // z_t within the chunk: log Σ_{s≤t} e^{k_s}, then joined with the carried z
            Tensor z = Reductions.logsumexp(
                    Indexing.maskedFill(kRow, future, Double.NEGATIVE_INFINITY), new int[] {3}, false);
            if (zPrev != null) {
                z = logAddExp(Views.unsqueeze(zPrev, 2), z);
            }
            // weights e^{k_s − z_t} (≤ 1) for s ≤ t, masked in the exponent
            Tensor w = Elementwise.exp(Indexing.maskedFill(
                    Elementwise.sub(kRow, Views.unsqueeze(z, 3)), future, Double.NEGATIVE_INFINITY));
            Tensor scores =
                    Reductions.sum(Elementwise.mul(w, Views.unsqueeze(qc, 3)), new int[] {4}, false); // [B, H, C, C]
            Tensor o = LinearAlgebra.matmul(scores, vc);
            Tensor zEnd = Views.select(z, 2, len - 1);
            Tensor sNext =
                    LinearAlgebra.matmul(Views.select(w, 2, len - 1), vc, true, false); // Σ_s e^{k_s − z_end} k⊗v
            if (sPrev != null) {
                Tensor carried = Elementwise.exp(Elementwise.sub(Views.unsqueeze(zPrev, 2), z)); // e^{z_prev − z_t}
                o = Elementwise.add(o, LinearAlgebra.matmul(Elementwise.mul(qc, carried), sPrev));
                Tensor decay = Elementwise.exp(Elementwise.sub(zPrev, zEnd));
                sNext = Elementwise.add(sNext, Elementwise.mul(Views.unsqueeze(decay, 3), sPrev));
            }
            outs.add(o);
            sPrev = sNext;
            zPrev = zEnd;
        }
        Tensor o = outs.size() == 1 ? outs.get(0) : Views.concat(2, outs.toArray(Tensor[]::new));
        return new Result(tokensFirst(o, q.dtype()), wantFinal ? new State(sPrev, zPrev) : null);
    }

    /**
     * Token by token, as decoding runs: z ← logaddexp(z, k_t), S ← e^{z_old − z} S + e^{k_t − z} k⊗v_t, o_t = q_t S.
     * Differentiable like the chunked form (and equal to it); cost O(T·dk·dv) per head, T small ops per token.
     */
    public static Result recurrent(Tensor q, Tensor k, Tensor v, State initial, boolean wantFinal) {
        String op = "lightnet.recurrent";
        int[] dims = check(op, q, k, v, initial);
        DType ct = computeType(q);
        Tensor qh = headsFirst(q, ct);
        Tensor kh = headsFirst(k, ct);
        Tensor vh = headsFirst(v, ct);
        Tensor s = initial == null ? null : initial.s().to(ct);
        Tensor z = initial == null ? null : initial.z().to(ct);
        Tensor[] outs = new Tensor[dims[1]];
        for (int i = 0; i < dims[1]; i++) {
            Tensor qt = Views.select(qh, 2, i);
            Tensor kt = Views.select(kh, 2, i);
            Tensor vt = Views.select(vh, 2, i);
            Tensor zNew = z == null ? kt : logAddExp(z, kt);
            Tensor update = Elementwise.mul(
                    Views.unsqueeze(Elementwise.exp(Elementwise.sub(kt, zNew)), 3), Views.unsqueeze(vt, 2));
            s = s == null
                    ? update
                    : Elementwise.add(
                            Elementwise.mul(Views.unsqueeze(Elementwise.exp(Elementwise.sub(z, zNew)), 3), s), update);
            z = zNew;
            outs[i] = Views.squeeze(LinearAlgebra.matmul(Views.unsqueeze(qt, 2), s), 2); // [B, H, dv]
        }
        Tensor o = Views.stack(2, outs);
        return new Result(tokensFirst(o, q.dtype()), wantFinal ? new State(s, z) : null);
    }

    /**
     * The non-causal form over any set of positions (the flattened cells of an image, a bidirectional text) in one
     * scan: S = Σ_s softmax_s(K)_s ⊗ v_s per key channel (softmax over the positions), o = q S. Independent of the
     * order of the positions; equal to q times the final state of the causal op on any flattening.
     */
    public static Tensor global(Tensor q, Tensor k, Tensor v) {
        String op = "lightnet.global";
        check(op, q, k, v, null);
        DType ct = computeType(q);
        Tensor w = Activations.softmax(headsFirst(k, ct), 2); // [B, H, N, dk]
        Tensor s = LinearAlgebra.matmul(w, headsFirst(v, ct), true, false); // [B, H, dk, dv]
        return tokensFirst(LinearAlgebra.matmul(headsFirst(q, ct), s), q.dtype());
    }

    /** log(e^a + e^b) for broadcastable a, b; the shift is detached (the expression does not depend on it). */
    static Tensor logAddExp(Tensor a, Tensor b) {
        Tensor m = Elementwise.maximum(a.detach(), b.detach());
        Tensor sum = Elementwise.add(Elementwise.exp(Elementwise.sub(a, m)), Elementwise.exp(Elementwise.sub(b, m)));
        return Elementwise.add(m, Elementwise.log(sum));
    }

    private static DType computeType(Tensor q) {
        return q.dtype() == DType.F64 ? DType.F64 : DType.F32;
    }

    /** [B, T, H, D] → contiguous [B, H, T, D] in the compute dtype. */
    private static Tensor headsFirst(Tensor x, DType ct) {
        Tensor c = x.dtype() == ct ? x : x.to(ct);
        return Views.contiguous(Views.permute(c, 0, 2, 1, 3));
    }

    private static Tensor tokensFirst(Tensor o, DType out) {
        Tensor r = Views.contiguous(Views.permute(o, 0, 2, 1, 3));
        return r.dtype() == out ? r : r.to(out);
    }

    /** Checks q, k [B, T, H, dk], v [B, T, H, dv] and the state; returns {B, T, H, dk, dv}. */
    static int[] check(String op, Tensor q, Tensor k, Tensor v, State initial) {
        String[] names = {"q", "k", "v"};
        Tensor[] ts = {q, k, v};
        for (int i = 0; i < 3; i++) {
            if (ts[i] == null) {
                throw new IllegalArgumentException(op + ": " + names[i] + " must not be null");
            }
            ts[i].checkAlive(op);
            if (ts[i].ndim() != 4) {
                throw new IllegalArgumentException(
                        op + ": " + names[i] + " must be [B, T, H, D], got " + ts[i].describe());
            }
            if (!ts[i].device().equals(q.device())) {
                throw new IllegalArgumentException(
                        op + ": " + names[i] + " " + ts[i].describe() + " is not on " + q.device() + " with q");
            }
        }
        int b = q.size(0), t = q.size(1), h = q.size(2), dk = q.size(3), dv = v.size(3);
        if (!Arrays.equals(k.shape(), q.shape())) {
            throw new IllegalArgumentException(
                    op + ": k " + Shape.str(k.shape()) + " must have q's shape " + Shape.str(q.shape()));
        }
        if (v.size(0) != b || v.size(1) != t || v.size(2) != h) {
            throw new IllegalArgumentException(op + ": v " + Shape.str(v.shape()) + " does not match q "
                    + Shape.str(q.shape()) + " (expected [B, T, H, dv])");
        }
        if (t == 0) {
            throw new IllegalArgumentException(op + ": q has no tokens (T = 0)");
        }
        if (initial != null) {
            if (initial.s() == null || initial.z() == null) {
                throw new IllegalArgumentException(op + ": initial state needs both s and z");
            }
            int[] sShape = {b, h, dk, dv};
            int[] zShape = {b, h, dk};
            if (!Arrays.equals(initial.s().shape(), sShape)) {
                throw new IllegalArgumentException(
                        op + ": initial state s " + initial.s().describe() + " must be " + Shape.str(sShape));
            }
            if (!Arrays.equals(initial.z().shape(), zShape)) {
                throw new IllegalArgumentException(
                        op + ": initial state z " + initial.z().describe() + " must be " + Shape.str(zShape));
            }
            if (!initial.s().device().equals(q.device())
                    || !initial.z().device().equals(q.device())) {
                throw new IllegalArgumentException(op + ": initial state is not on " + q.device() + " with q");
            }
        }
        return new int[] {b, t, h, dk, dv};
    }
}
