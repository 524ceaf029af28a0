package fulgur.ops.gla;

import fulgur.autograd.GradMode;
import fulgur.ops.Elementwise;
import fulgur.ops.Indexing;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The intra-chunk scores of gated linear attention, A[i,j] = Σ_c q[i,c] k[j,c] exp(b[i,c] − b[j,c]) for j ≤ i (0
 * above the diagonal), with q, k and the within-chunk cumulative log-decay b all {@code [..., C, dk]}: what
 * {@link GlaIntraKernels} computes. {@link #composed} builds it from other ops (any backend; [..., C, C, dk]
 * temporaries); {@link #cpuScores} fuses it on the CPU ({@link GlaIntraCpu}). Since b decreases along the chunk, every
 * exponent formed is ≤ 0 (the positions above the diagonal are masked before the exponential).
 */
public final class GlaIntra {
    private GlaIntra() {}

    // -------------------------------------------------------------------------------------- composed (any backend)

    /** exp(b_i − b_j) masked to j ≤ i: [..., C, C, dk]. */
    private static Tensor decay(Tensor b) {
        int n = b.ndim();
        int c = b.size(n - 2);
        Tensor diff = Elementwise.sub(Views.unsqueeze(b, n - 1), Views.unsqueeze(b, n - 2));
        Tensor above = Views.reshape(Indexing.causalMask(c).to(b.dtype()).to(b.device()), c, c, 1);
        return Elementwise.exp(Indexing.where(above, Tensor.full(b.dtype(), b.device(), -1e30, 1), diff));
    }

    /** The scores from other ops of q's backend. */
    public static Tensor composed(Tensor q, Tensor k, Tensor b) {
        try (var g = GradMode.noGrad()) {
            int n = q.ndim();
            Tensor prod =
                    Elementwise.mul(Elementwise.mul(Views.unsqueeze(q, n - 1), Views.unsqueeze(k, n - 2)), decay(b));
            return Reductions.sum(prod, new int[] {n}, false);
        }
    }

    /** {dq, dk, db} of {@link #composed} from dA [..., C, C]. */
    public static Tensor[] composedBackward(Tensor q, Tensor k, Tensor b, Tensor dA) {
        try (var g = GradMode.noGrad()) {
            int n = q.ndim();
            Tensor qi = Views.unsqueeze(q, n - 1); // [..., C, 1, dk]
            Tensor kj = Views.unsqueeze(k, n - 2); // [..., 1, C, dk]
            Tensor w = Elementwise.mul(Views.unsqueeze(dA.to(q.dtype()), n), decay(b)); // [..., C, C, dk]
            Tensor dq = Reductions.sum(Elementwise.mul(w, kj), new int[] {n - 1}, false);
            Tensor dk = Reductions.sum(Elementwise.mul(w, qi), new int[] {n - 2}, false);
            Tensor p = Elementwise.mul(Elementwise.mul(w, qi), kj);
            Tensor db = Elementwise.sub(
                    Reductions.sum(p, new int[] {n - 1}, false), Reductions.sum(p, new int[] {n - 2}, false));
            return new Tensor[] {dq, dk, db};
        }
    }

    // ---------------------------------------------------------------------------------------------- fused (CPU)

    /** The fused CPU scores: one pass over each chunk, f64 accumulation, result in the compute type. */
    public static Tensor cpuScores(Tensor q, Tensor k, Tensor b) {
        try (var g = GradMode.noGrad()) {
            DType ct = Gla.computeType(q.dtype());
            int n = q.ndim();
            int c = q.size(n - 2);
            int d = q.size(n - 1);
            int[] shape = q.shape();
            int[] outShape = shape.clone();
            outShape[n - 1] = c;
            MemorySegment qs = seg(q, ct), ks = seg(k, ct), bs = seg(b, ct);
            Tensor out = Tensor.empty(ct, outShape);
            MemorySegment os = seg(out, ct);
            boolean f64 = ct == DType.F64;
            int chunks = (int) (q.numel() / ((long) c * d));
            fulgur.backend.cpu.Parallel.forRange(chunks, Math.max(1, 4096 / (c * c * d + 1)), (m0, m1) -> {
                double[] qq = new double[c * d], kk = new double[c * d], bb = new double[c * d], a = new double[c * c];
                for (int m = m0; m < m1; m++) {
                    long base = (long) m * c * d;
                    load(qs, base, qq, f64);
                    load(ks, base, kk, f64);
                    load(bs, base, bb, f64);
                    java.util.Arrays.fill(a, 0);
                    for (int i = 0; i < c; i++) {
                        for (int j = 0; j <= i; j++) {
                            double s = 0;
                            for (int x = 0; x < d; x++) {
                                s += qq[i * d + x] * kk[j * d + x] * Math.exp(bb[i * d + x] - bb[j * d + x]);
                            }
                            a[i * c + j] = s;
                        }
                    }
                    store(os, (long) m * c * c, a, f64);
                }
            });
            return out;
        }
    }

    /** {dq, dk, db} of {@link #cpuScores}, fused. */
    public static Tensor[] cpuScoresBackward(Tensor q, Tensor k, Tensor b, Tensor dA) {
        try (var g = GradMode.noGrad()) {
            DType ct = Gla.computeType(q.dtype());
            int n = q.ndim();
            int c = q.size(n - 2);
            int d = q.size(n - 1);
            MemorySegment qs = seg(q, ct), ks = seg(k, ct), bs = seg(b, ct), das = seg(dA, ct);
            Tensor dq = Tensor.empty(ct, q.shape()), dk = Tensor.empty(ct, q.shape()), db = Tensor.empty(ct, q.shape());
            MemorySegment dqs = seg(dq, ct), dks = seg(dk, ct), dbs = seg(db, ct);
            boolean f64 = ct == DType.F64;
            int chunks = (int) (q.numel() / ((long) c * d));
            fulgur.backend.cpu.Parallel.forRange(chunks, Math.max(1, 4096 / (c * c * d + 1)), (m0, m1) -> {
                double[] qq = new double[c * d], kk = new double[c * d], bb = new double[c * d], da = new double[c * c];
                double[] gq = new double[c * d], gk = new double[c * d], gb = new double[c * d];
                for (int m = m0; m < m1; m++) {
                    long base = (long) m * c * d;
                    load(qs, base, qq, f64);
                    load(ks, base, kk, f64);
                    load(bs, base, bb, f64);
                    load(das, (long) m * c * c, da, f64);
                    java.util.Arrays.fill(gq, 0);
                    java.util.Arrays.fill(gk, 0);
                    java.util.Arrays.fill(gb, 0);
                    for (int i = 0; i < c; i++) {
                        for (int j = 0; j <= i; j++) {
                            double w = da[i * c + j];
                            if (w == 0) {
                                continue;
                            }
                            for (int x = 0; x < d; x++) {
                                double e = w * Math.exp(bb[i * d + x] - bb[j * d + x]);
                                double qe = qq[i * d + x] * e;
                                gq[i * d + x] += kk[j * d + x] * e;
                                gk[j * d + x] += qe;
                                double p = qe * kk[j * d + x];
                                gb[i * d + x] += p;
                                gb[j * d + x] -= p;
                            }
                        }
                    }
                    store(dqs, base, gq, f64);
                    store(dks, base, gk, f64);
                    store(dbs, base, gb, f64);
                }
            });
            return new Tensor[] {dq, dk, db};
        }
    }

    private static void load(MemorySegment s, long from, double[] dst, boolean f64) {
        if (f64) {
            for (int i = 0; i < dst.length; i++) {
                dst[i] = s.getAtIndex(ValueLayout.JAVA_DOUBLE, from + i);
            }
        } else {
            for (int i = 0; i < dst.length; i++) {
                dst[i] = s.getAtIndex(ValueLayout.JAVA_FLOAT, from + i);
            }
        }
    }

    private static void store(MemorySegment s, long from, double[] src, boolean f64) {
        if (f64) {
            for (int i = 0; i < src.length; i++) {
                s.setAtIndex(ValueLayout.JAVA_DOUBLE, from + i, src[i]);
            }
        } else {
            for (int i = 0; i < src.length; i++) {
                s.setAtIndex(ValueLayout.JAVA_FLOAT, from + i, (float) src[i]);
            }
        }
    }

    /** A contiguous host view of t in the compute type (copied when needed). */
    private static MemorySegment seg(Tensor t, DType ct) {
        Tensor c = t.dtype() == ct ? t.detach() : t.detach().to(ct);
        if (!c.isContiguous()) {
            c = c.contiguous();
        }
        MemorySegment s = c.hostSegment("gla");
        long es = ct.byteSize();
        return s.asSlice(c.offset() * es, c.numel() * es);
    }
}
