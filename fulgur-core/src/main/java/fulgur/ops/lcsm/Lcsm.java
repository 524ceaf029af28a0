package fulgur.ops.lcsm;

import fulgur.ops.Elementwise;
import fulgur.ops.Indexing;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The LCSM Expand–Oscillation–Shrink scan (arXiv 2405.17383, Doraemonzzz/Lcsm {@code expand_and_shrink}) with memory
 * m_t ∈ R^{k×d} per sequence:
 * <pre>
 *   m_t = o_t ⊙ m_{t−1} + e_t ⊙ (1 i_tᵀ)        y_t = Σ_k s_t ⊙ m_t   (= m_tᵀ s_t when s_t does not depend on d)
 * </pre>
 * i [B, T, d]; e, s and the oscillation in log space logO = log o (all three rank 4, each broadcastable to
 * [B, T, k, d]: a data-dependent expand e_t ∈ R^k is passed as [B, T, k, 1], a data-independent k×d matrix as
 * [1, 1, k, d]); the optional initial state m_0 is [B, k, d]. Every entry (k, d) is an independent scalar linear
 * recurrence, so o only needs to be positive (log space keeps long products stable).
 *
 * <p>Two forms, both composed from device-agnostic ops (autograd gives the backward, every backend runs them):
 * {@link #chunked} works chunk by chunk, inside a chunk with the decay matrix exp(L_t − L_j) (L the cumulative log
 * oscillation, j ≤ t, so exponents are ≤ 0 when o ≤ 1) and across chunks through the carried state;
 * {@link #recurrent} steps token by token (decoding).
 */
public final class Lcsm {
    private Lcsm() {}

    public static final int DEFAULT_CHUNK = 16;

    /** Output y [B, T, d] and the final state m_T [B, k, d]. */
    public record Result(Tensor output, Tensor finalState) {}

    /** Checks the arguments and returns {B, T, k, d}. */
    static int[] dims(String op, Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0) {
        for (var a : List.of(
                new Object[] {"i", i}, new Object[] {"e", e}, new Object[] {"logO", logO}, new Object[] {"s", s})) {
            Tensor t = (Tensor) a[1];
            if (t == null) {
                throw new IllegalArgumentException(op + ": " + a[0] + " must not be null");
            }
            t.checkAlive(op);
            if (!t.dtype().isFloating()) {
                throw new IllegalArgumentException(op + ": " + a[0] + " must be floating, got " + t.describe());
            }
            if (!t.device().equals(i.device())) {
                throw new IllegalArgumentException(
                        op + ": " + a[0] + " " + t.describe() + " is not on " + i.device() + " with i");
            }
        }
        if (i.ndim() != 3) {
            throw new IllegalArgumentException(op + ": i must be [B, T, d], got " + i.describe());
        }
        int b = i.size(0);
        int t = i.size(1);
        int d = i.size(2);
        int k = 1;
        for (Tensor x : new Tensor[] {e, logO, s}) {
            if (x.ndim() == 4) {
                k = Math.max(k, x.size(2));
            }
        }
        int[] full = {b, t, k, d};
        String[] names = {"e", "logO", "s"};
        Tensor[] xs = {e, logO, s};
        for (int n = 0; n < 3; n++) {
            Tensor x = xs[n];
            boolean ok = x.ndim() == 4;
            for (int a = 0; ok && a < 4; a++) {
                ok = x.size(a) == 1 || x.size(a) == full[a];
            }
            if (!ok) {
                throw new IllegalArgumentException(op + ": " + names[n] + " " + x.describe()
                        + " does not broadcast to [B, T, k, d] = " + Shape.str(full));
            }
        }
        if (m0 != null) {
            m0.checkAlive(op);
            if (!Arrays.equals(m0.shape(), new int[] {b, k, d})
                    || !m0.dtype().isFloating()
                    || !m0.device().equals(i.device())) {
                throw new IllegalArgumentException(op + ": initial state m0 " + m0.describe()
                        + " must be a floating [B, k, d] = " + Shape.str(new int[] {b, k, d}) + " on " + i.device());
            }
        }
        return full;
    }

    /** Position t of a tensor whose time axis (1) may be broadcast. */
    private static Tensor at(Tensor x, int t) {
        return Views.select(x, 1, x.size(1) == 1 ? 0 : t);
    }

    private static Tensor span(Tensor x, int start, int len) {
        return x.size(1) == 1 ? x : Views.narrow(x, 1, start, len);
    }

    /** e ⊙ (1 iᵀ) for every position: [B, T, k or 1, d]. */
    private static Tensor input(Tensor i, Tensor e) {
        return Elementwise.mul(e, Views.unsqueeze(i, 2));
    }

    /** Token by token. */
    public static Result recurrent(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0) {
        int[] f = dims("lcsm.recurrent", i, e, logO, s, m0);
        Tensor u = input(i, e);
        Tensor m = m0 != null ? m0 : Tensor.zeros(i.dtype(), i.device(), f[0], f[2], f[3]);
        Tensor[] ys = new Tensor[f[1]];
        for (int t = 0; t < f[1]; t++) {
            m = Elementwise.add(Elementwise.mul(Elementwise.exp(at(logO, t)), m), at(u, t));
            ys[t] = Reductions.sum(Elementwise.mul(at(s, t), m), new int[] {1}, false);
        }
        Tensor y = f[1] == 0 ? Tensor.zeros(i.dtype(), i.device(), f[0], 0, f[3]) : Views.stack(1, ys);
        return new Result(y, m);
    }

    /** Chunk by chunk (chunk ≥ 1 tokens; the last chunk may be shorter). */
    public static Result chunked(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0, int chunk) {
        String op = "lcsm.chunked";
        int[] f = dims(op, i, e, logO, s, m0);
        if (chunk < 1) {
            throw new IllegalArgumentException(op + ": chunk must be ≥ 1, got " + chunk);
        }
        int b = f[0];
        int n = f[1];
        int k = f[2];
        int d = f[3];
        Tensor u = Views.expand(input(i, e), b, n, k, d);
        Tensor logFull = Views.expand(logO, logO.size(0), n, logO.size(2), logO.size(3));
        Tensor minusInf = Tensor.full(i.dtype(), i.device(), Double.NEGATIVE_INFINITY, 1);
        Tensor m = m0;
        List<Tensor> ys = new ArrayList<>();
        for (int c0 = 0; c0 < n; c0 += chunk) {
            int len = Math.min(chunk, n - c0);
            Tensor cum = Indexing.cumsum(Views.narrow(logFull, 1, c0, len), 1); // L_t, [b', len, k', d']
            // exp(L_t − L_j) for j ≤ t (t on axis 1, j on axis 2); masked to −∞ above the diagonal before exp
            Tensor diff = Elementwise.sub(Views.unsqueeze(cum, 2), Views.unsqueeze(cum, 1));
            Tensor mask = Views.reshape(Indexing.causalMask(len).to(i.device()), 1, len, len, 1, 1);
            Tensor decay = Elementwise.exp(Indexing.where(mask, minusInf, diff));
            Tensor mem = Reductions.sum(
                    Elementwise.mul(decay, Views.unsqueeze(Views.narrow(u, 1, c0, len), 1)), new int[] {2}, false);
            if (m != null) {
                mem = Elementwise.add(mem, Elementwise.mul(Elementwise.exp(cum), Views.unsqueeze(m, 1)));
            }
            mem = Views.expand(mem, b, len, k, d);
            ys.add(Reductions.sum(Elementwise.mul(span(s, c0, len), mem), new int[] {2}, false));
            m = Views.select(mem, 1, len - 1);
        }
        if (m == null) {
            m = Tensor.zeros(i.dtype(), i.device(), b, k, d);
        }
        Tensor y = ys.isEmpty()
                ? Tensor.zeros(i.dtype(), i.device(), b, 0, d)
                : ys.size() == 1 ? ys.get(0) : Views.concat(1, ys.toArray(Tensor[]::new));
        return new Result(y, m);
    }

    /**
     * The fused scan: one node of the graph whose forward and backward are the device's {@link LcsmKernels} (CPU: a
     * direct loop per sequence; devices without them: {@link LcsmComposed}, the token-by-token composition). All inputs
     * must share i's dtype. What the model trains with.
     */
    public static Result scan(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0) {
        String op = "lcsm.scan";
        int[] f = dims(op, i, e, logO, s, m0);
        for (Tensor t : new Tensor[] {e, logO, s, m0}) {
            if (t != null && t.dtype() != i.dtype()) {
                throw new IllegalArgumentException(op + ": " + t.describe() + " must have i's dtype " + i.dtype());
            }
        }
        int b = f[0];
        int n = f[1];
        int k = f[2];
        int d = f[3];
        Tensor ef = Views.expand(e.detach(), f);
        Tensor lf = Views.expand(logO.detach(), f);
        Tensor sf = Views.expand(s.detach(), f);
        Tensor id = i.detach();
        Tensor md = m0 == null ? null : m0.detach();
        LcsmKernels found = fulgur.backend.Kernels.find(LcsmKernels.class, i.device());
        LcsmKernels kn = found != null && found.supports(id, ef, lf, sf) ? found : null;
        Tensor packed = kn != null ? kn.forward(id, ef, lf, sf, md) : LcsmComposed.forward(id, ef, lf, sf, md);
        int[] es = e.shape();
        int[] ls = logO.shape();
        int[] ss = s.shape();
        Tensor node = fulgur.autograd.Autograd.record(op, packed, new Tensor[] {i, e, logO, s, m0}, g -> {
            Tensor[] gr =
                    kn != null ? kn.backward(id, ef, lf, sf, md, g) : LcsmComposed.backward(id, ef, lf, sf, md, g);
            return new Tensor[] {
                gr[0], Reductions.sumTo(gr[1], es), Reductions.sumTo(gr[2], ls), Reductions.sumTo(gr[3], ss), gr[4]
            };
        });
        Tensor y = Views.reshape(Views.narrow(node, 0, 0, b * n * d), b, n, d);
        Tensor m = Views.reshape(Views.narrow(node, 0, b * n * d, b * k * d), b, k, d);
        return new Result(y, m);
    }
}
