package fulgur.ops.gla;

import fulgur.autograd.Autograd;
import fulgur.autograd.GradMode;
import fulgur.backend.Kernels;
import fulgur.ops.CuSeqlens;
import fulgur.ops.Elementwise;
import fulgur.ops.Indexing;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Gated linear attention with per-channel, data-dependent decay, on tensors laid out as lightning attention's
 * ({@code [B, T, H, D]}): per head,
 * <pre>
 *   S_t = diag(α_t) S_{t−1} + k_tᵀ v_t     (S ∈ R^{dk×dv}, α_t = exp(g_t) ∈ (0, 1]^{dk})
 *   o_t = scale · q_t S_t
 * </pre>
 * q, k and the log-decay g are {@code [B, T, H, dk]}, v and o {@code [B, T, H, dv]}, states {@code [B, H, dk, dv]}.
 * g must be ≤ 0 (it is log α; fla's {@code gk}). {@link #chunked} runs the device's {@link GlaKernels} where one is
 * registered ({@link Kernels}); otherwise, and always for {@link #recurrent}, the forms are compositions of
 * device-agnostic autograd ops, so they run on any backend and give gradients to q, k, v, g and the initial state,
 * from the output and the final state. No exponential of a positive partial sum is ever formed: inside a chunk the
 * decay between two positions is exp(b_i − b_j), j ≤ i, with b the within-chunk cumulative log-decay (the device's
 * {@link GlaIntraKernels} where it has them, with a hand-written backward), and across chunks every factor is a decay
 * from a chunk boundary forward, exp(b_i) or exp(b_last − b_j), all ≤ 1. bf16/f16 inputs compute in f32 and return in
 * their dtype.
 */
public final class Gla {
    private Gla() {}

    /**
     * Chunk size of {@link #attention}: the intra-chunk term costs O(T·chunk·dk) per head, the saved chunk-entry
     * states T/chunk·dk·dv.
     */
    public static final int DEFAULT_CHUNK = 16;

    /** Output {@code [B, T, H, dv]} and, when asked for, the final state {@code [B, H, dk, dv]}. */
    public record Result(Tensor output, Tensor finalState) {}

    /** The chunked form with the default chunk, no initial state. */
    public static Tensor attention(Tensor q, Tensor k, Tensor v, Tensor g, double scale) {
        return chunked(q, k, v, g, scale, null, false, DEFAULT_CHUNK).output();
    }

    /**
     * Chunked form: within a chunk of {@code chunkSize} positions the masked quadratic sum, across chunks the state
     * recurrence (one step per chunk). Cost O(T·chunk·dk + T·dk·dv) per head.
     */
    public static Result chunked(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int chunkSize) {
        return chunked(q, k, v, g, scale, initialState, wantFinalState, chunkSize, null);
    }

    /**
     * The chunked form over packed variable-length sequences: with {@code cuSeqlens = [0, c₁, …, T]} (batch 1) the state
     * is reset at every boundary and the initial and final states are per sequence, {@code [N, H, dk, dv]}. Runs the
     * device's {@link GlaKernels} when it has them (chunkSize is then only a hint), the composed form otherwise.
     */
    public static Result chunked(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int chunkSize,
            int[] cuSeqlens) {
        String op = "gla.chunked";
        int[] s = check(op, q, k, v, g, scale, initialState, cuSeqlens);
        if (chunkSize < 1) {
            throw new IllegalArgumentException(op + ": chunkSize = " + chunkSize + ", expected >= 1");
        }
        GlaKernels kernels = Kernels.find(GlaKernels.class, q.device());
        if (kernels != null && kernels.supports(q, k, v, g)) {
            return kernel(kernels, s, q, k, v, g, scale, initialState, wantFinalState, cuSeqlens);
        }
        if (cuSeqlens != null) {
            return packed(q, k, v, g, scale, initialState, wantFinalState, chunkSize, cuSeqlens);
        }
        return composed(q, k, v, g, scale, initialState, wantFinalState, chunkSize);
    }

    /** The device's kernels as one autograd node (output and final state share one buffer). */
    private static Result kernel(
            GlaKernels kn,
            int[] s,
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int[] cuSeqlens) {
        String op = "gla.chunked";
        int b = s[0], t = s[1], h = s[2], dk = s[3], dv = s[4];
        int n = cuSeqlens == null ? b : cuSeqlens.length - 1;
        Tensor packed = kn.forward(q, k, v, g, scale, initialState, wantFinalState, cuSeqlens);
        Tensor node = Autograd.record(op, packed, new Tensor[] {q, k, v, g, initialState}, gr -> {
            Tensor[] d = kn.backward(q, k, v, g, scale, initialState, wantFinalState, cuSeqlens, gr);
            return new Tensor[] {
                like(d[0], q),
                like(d[1], k),
                like(d[2], v),
                like(d[3], g),
                initialState == null || d[4] == null ? null : like(d[4], initialState)
            };
        });
        int no = Shape.toInt(op, (long) b * t * h * dv);
        Tensor o = Views.reshape(Views.narrow(node, 0, 0, no), b, t, h, dv);
        Tensor fs = wantFinalState
                ? Views.reshape(Views.narrow(node, 0, no, Shape.toInt(op, (long) n * h * dk * dv)), n, h, dk, dv)
                : null;
        return new Result(o.dtype() == q.dtype() ? o : o.to(q.dtype()), fs);
    }

    private static Tensor like(Tensor grad, Tensor x) {
        return grad.dtype() == x.dtype() ? grad : grad.to(x.dtype());
    }

    /** The composed form sequence by sequence over packed sequences. */
    private static Result packed(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int chunkSize,
            int[] cu) {
        int n = cu.length - 1;
        int h = q.size(2), dk = q.size(3), dv = v.size(3);
        DType ct = computeType(q.dtype());
        List<Tensor> outs = new ArrayList<>();
        Tensor[] states = new Tensor[n];
        for (int i = 0; i < n; i++) {
            int len = cu[i + 1] - cu[i];
            Tensor s0 = initialState == null ? null : Views.narrow(initialState, 0, i, 1);
            if (len == 0) {
                states[i] = s0 != null ? s0.to(ct) : Tensor.zeros(ct, q.device(), 1, h, dk, dv);
                continue;
            }
            Result r = composed(
                    Views.narrow(q, 1, cu[i], len),
                    Views.narrow(k, 1, cu[i], len),
                    Views.narrow(v, 1, cu[i], len),
                    Views.narrow(g, 1, cu[i], len),
                    scale,
                    s0,
                    true,
                    chunkSize);
            outs.add(r.output());
            states[i] = r.finalState();
        }
        Tensor o = outs.isEmpty()
                ? Tensor.zeros(q.dtype(), q.device(), 1, 0, h, dv)
                : outs.size() == 1 ? outs.get(0) : Views.concat(1, outs.toArray(Tensor[]::new));
        return new Result(o, wantFinalState ? (n == 1 ? states[0] : Views.concat(0, states)) : null);
    }

    /** The composed chunked form (one sequence per batch row). */
    static Result composed(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int chunkSize) {
        int b = q.size(0), t = q.size(1), h = q.size(2), dk = q.size(3), dv = v.size(3);
        DType out = q.dtype();
        DType ct = computeType(out);
        int c = Math.min(chunkSize, t);
        int n = (t + c - 1) / c;
        int tp = n * c;
        // Padding with g = 0 and k = v = 0 leaves the state unchanged, so the final state is the one after T.
        Tensor qc = chunks(pad(Elementwise.mulScalar(q.to(ct), scale), tp), n, c);
        Tensor kc = chunks(pad(k.to(ct), tp), n, c);
        Tensor vc = chunks(pad(v.to(ct), tp), n, c);
        Tensor bc = Indexing.cumsum(chunks(pad(g.to(ct), tp), n, c), 3); // [B,H,N,C,dk], ≤ 0, decreasing

        // Intra-chunk: A[i,j] = Σ_c q[i,c] k[j,c] exp(b[i,c] − b[j,c]) for j ≤ i (a backend kernel; see GlaIntra).
        Tensor a = intraScores(qc, kc, bc); // [B,H,N,C,C]
        Tensor o = LinearAlgebra.matmul(a, vc); // [B,H,N,C,dv]

        // Inter-chunk: the state entering chunk n, decayed to each query; chunk n's own contribution to the next.
        Tensor bLast = Views.narrow(bc, 3, c - 1, 1); // [B,H,N,1,dk]
        Tensor qd = Elementwise.mul(qc, Elementwise.exp(bc));
        Tensor kd = Elementwise.mul(kc, Elementwise.exp(Elementwise.sub(bLast, bc)));
        Tensor kv = LinearAlgebra.matmul(kd, vc, true, false); // [B,H,N,dk,dv]
        Tensor chunkDecay = Views.transpose(Elementwise.exp(bLast), 3, 4); // [B,H,N,dk,1]
        Tensor state = initialState != null ? initialState.to(ct) : Tensor.zeros(ct, q.device(), b, h, dk, dv);
        Tensor[] entering = new Tensor[n];
        for (int i = 0; i < n; i++) {
            entering[i] = state;
            state = Elementwise.add(Elementwise.mul(state, Views.select(chunkDecay, 2, i)), Views.select(kv, 2, i));
        }
        o = Elementwise.add(o, LinearAlgebra.matmul(qd, Views.stack(2, entering)));

        Tensor y = Views.reshape(Views.permute(o, 0, 2, 3, 1, 4), b, tp, h, dv);
        if (tp != t) {
            y = Views.narrow(y, 1, 0, t);
        }
        return new Result(y.to(out), wantFinalState ? state : null);
    }

    /**
     * Decoding: consumes the T tokens of q, k, v, g (often one), advancing {@code state} [B, H, dk, dv] (f32 or f64,
     * contiguous) in place; returns the outputs [B, T, H, dv] in q's dtype. No gradients. The device's
     * {@link GlaKernels#recurrent} where it has one, else {@link #recurrent} composed.
     */
    public static Tensor decode(Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor state) {
        String op = "gla.decode";
        if (state == null) {
            throw new IllegalArgumentException(op + ": state must not be null");
        }
        check(op, q, k, v, g, scale, state, null);
        if (!state.isContiguous() || (state.dtype() != DType.F32 && state.dtype() != DType.F64)) {
            throw new IllegalArgumentException(
                    op + ": state must be a contiguous f32 or f64 tensor, got " + state.describe());
        }
        try (var ng = GradMode.noGrad()) {
            GlaKernels kn = Kernels.find(GlaKernels.class, q.device());
            Tensor o;
            if (kn != null && kn.supports(q, k, v, g)) {
                o = kn.recurrent(q, k, v, g, scale, state);
            } else {
                Result r = recurrent(q, k, v, g, scale, state);
                state.copyFrom(r.finalState());
                o = r.output();
            }
            return o.dtype() == q.dtype() ? o : o.to(q.dtype());
        }
    }

    /**
     * Recurrent form: one state update per position, the reference for decoding (short inputs, a cached state).
     * Differentiable like the chunked form. The final state is always returned ({@code [B, H, dk, dv]}, f32 or f64).
     */
    public static Result recurrent(Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor initialState) {
        String op = "gla.recurrent";
        int[] s = check(op, q, k, v, g, scale, initialState, null);
        int b = s[0], t = s[1], h = s[2], dk = s[3], dv = s[4];
        DType ct = computeType(q.dtype());
        Tensor qs = Elementwise.mulScalar(q.to(ct), scale);
        Tensor alpha = Elementwise.exp(g.to(ct));
        Tensor kk = k.to(ct);
        Tensor vv = v.to(ct);
        Tensor state = initialState != null ? initialState.to(ct) : Tensor.zeros(ct, q.device(), b, h, dk, dv);
        Tensor[] outs = new Tensor[t];
        for (int i = 0; i < t; i++) {
            Tensor kv = Elementwise.mul(
                    Views.unsqueeze(Views.select(kk, 1, i), 3), Views.unsqueeze(Views.select(vv, 1, i), 2));
            state = Elementwise.add(Elementwise.mul(state, Views.unsqueeze(Views.select(alpha, 1, i), 3)), kv);
            outs[i] = Views.squeeze(
                    LinearAlgebra.matmul(Views.unsqueeze(Views.select(qs, 1, i), 2), state), 2); // [B,H,dv]
        }
        Tensor o = t == 1 ? Views.unsqueeze(outs[0], 1) : Views.stack(1, outs);
        return new Result(o.to(q.dtype()), state);
    }

    /** The intra-chunk scores as one autograd node over the backend's kernel and its hand-written backward. */
    static Tensor intraScores(Tensor q, Tensor k, Tensor b) {
        GlaIntraKernels kn = Kernels.find(GlaIntraKernels.class, q.device());
        Tensor a = kn != null ? kn.scores(q, k, b) : GlaIntra.composed(q, k, b);
        return Autograd.record("gla.intra", a, new Tensor[] {q, k, b}, g -> {
            Tensor[] d = kn != null ? kn.scoresBackward(q, k, b, g) : GlaIntra.composedBackward(q, k, b, g);
            return new Tensor[] {d[0], d[1], d[2]};
        });
    }

    static DType computeType(DType dt) {
        return dt == DType.F64 ? DType.F64 : DType.F32;
    }

    /** [B, T, H, D] padded with zeros to [B, tp, H, D]. */
    private static Tensor pad(Tensor x, int tp) {
        int t = x.size(1);
        if (t == tp) {
            return x;
        }
        Tensor z = Tensor.zeros(x.dtype(), x.device(), x.size(0), tp - t, x.size(2), x.size(3));
        return Views.concat(1, x, z);
    }

    /** [B, N·C, H, D] → [B, H, N, C, D]. */
    private static Tensor chunks(Tensor x, int n, int c) {
        return Views.contiguous(Views.permute(Views.reshape(x, x.size(0), n, c, x.size(2), x.size(3)), 0, 3, 1, 2, 4));
    }

    /** Validates the arguments; returns {B, T, H, dk, dv}. */
    static int[] check(
            String op, Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor initialState, int[] cuSeqlens) {
        String[] names = {"q", "k", "v", "g"};
        Tensor[] ts = {q, k, v, g};
        for (int i = 0; i < 4; i++) {
            if (ts[i] == null) {
                throw new IllegalArgumentException(op + ": " + names[i] + " must not be null");
            }
            ts[i].checkAlive(op);
            if (ts[i].ndim() != 4) {
                throw new IllegalArgumentException(
                        op + ": " + names[i] + " must be [B, T, H, D], got " + ts[i].describe());
            }
            if (!ts[i].dtype().isFloating()) {
                throw new IllegalArgumentException(
                        op + ": " + names[i] + " must be floating point, got " + ts[i].describe());
            }
            if (!ts[i].device().equals(q.device())) {
                throw new IllegalArgumentException(
                        op + ": " + names[i] + " " + ts[i].describe() + " is not on " + q.device() + " with q");
            }
        }
        int[] qs = q.shape();
        if (!Arrays.equals(k.shape(), qs)) {
            throw new IllegalArgumentException(op + ": k " + Shape.str(k.shape()) + " does not match q " + Shape.str(qs)
                    + " (expected [B,T,H,dk])");
        }
        if (!Arrays.equals(g.shape(), qs)) {
            throw new IllegalArgumentException(op + ": g " + Shape.str(g.shape()) + " does not match q " + Shape.str(qs)
                    + " (expected [B,T,H,dk])");
        }
        if (v.size(0) != qs[0] || v.size(1) != qs[1] || v.size(2) != qs[2]) {
            throw new IllegalArgumentException(op + ": v " + Shape.str(v.shape()) + " does not match q " + Shape.str(qs)
                    + " (expected [B,T,H,dv])");
        }
        if (!Double.isFinite(scale)) {
            throw new IllegalArgumentException(op + ": scale = " + scale + ", expected a finite number");
        }
        int n = CuSeqlens.check(op, cuSeqlens, qs[0], qs[1]);
        int[] st = {n, qs[2], qs[3], v.size(3)};
        if (initialState != null) {
            initialState.checkAlive(op);
            if (!Arrays.equals(initialState.shape(), st)) {
                throw new IllegalArgumentException(
                        op + ": initial state " + initialState.describe() + " does not match the expected "
                                + Shape.str(st) + (cuSeqlens == null ? " [B,H,dk,dv]" : " [N,H,dk,dv]"));
            }
            if (!initialState.device().equals(q.device())) {
                throw new IllegalArgumentException(
                        op + ": initial state " + initialState.describe() + " is not on " + q.device() + " with q");
            }
        }
        return new int[] {qs[0], qs[1], qs[2], qs[3], v.size(3)};
    }
}
