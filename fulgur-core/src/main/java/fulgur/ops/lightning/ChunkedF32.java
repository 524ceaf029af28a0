package fulgur.ops.lightning;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * The f32 Lightning Attention-2 kernel for one (sequence, head): blocks of {@code blk} tokens, intra-block
 * quadratic products on vectorized tiles, inter-block products against the f32 d×e state. See
 * {@link LightningChunked} for the math. One instance per thread, reused across calls (grown on demand).
 */
final class ChunkedF32 {

    private static final ThreadLocal<ChunkedF32> PER_THREAD = ThreadLocal.withInitial(ChunkedF32::new);

    /** The calling thread's kernel, with scratch for blocks of {@code blk} tokens, key dim d and value dim e. */
    static ChunkedF32 forThread(int blk, int d, int e) {
        ChunkedF32 k = PER_THREAD.get();
        k.ensure(blk, d, e);
        return k;
    }

    private int capB, capD, capE;
    private int ldB, ldd, lde, wOff;
    private float[] q, k, v, g, gs;
    private float[] kt, vt;
    private float[] a, m;
    private float[] t1, t2, t3;
    private float[] p, pt;
    private float[] pw, pwLo, qdec, w;

    /**
     * Sets the dimensions of the coming call; arrays only ever grow, so alternating shapes (varlen batches whose
     * longest sequence changes, layers of different head dims) do not reallocate. Stale values left in padding by
     * an earlier shape are never mixed into real outputs (see {@link Tiles}).
     */
    private void ensure(int blk, int d, int e) {
        capB = blk;
        capD = d;
        capE = e;
        ldB = Tiles.pad(blk);
        ldd = Tiles.pad(d);
        lde = Tiles.pad(e);
        q = grow(q, blk * ldd);
        k = grow(k, blk * ldd);
        v = grow(v, blk * lde);
        g = grow(g, blk * lde);
        gs = grow(gs, blk * lde);
        kt = grow(kt, d * ldB);
        vt = grow(vt, e * ldB);
        a = grow(a, blk * ldB);
        m = grow(m, blk * ldB);
        t1 = grow(t1, blk * ldd);
        t2 = grow(t2, blk * ldd);
        t3 = grow(t3, blk * lde);
        p = grow(p, d * lde);
        pt = grow(pt, e * ldd);
        pw = grow(pw, blk + 1);
        pwLo = grow(pwLo, blk + 1);
        qdec = grow(qdec, blk);
        wOff = ldB;
        w = grow(w, ldB + Tiles.L + 1);
    }

    private static float[] grow(float[] x, int n) {
        return x != null && x.length >= n ? x : new float[n];
    }

    /**
     * Decay tables for one head: λ^i (as f32 plus its rounding remainder, for the carried state), scale·λ^{i+1},
     * and the causal mask weights scale·λ^x. All from exp(−slope·x) in f64, 0 ≤ x ≤ block.
     */
    private void decays(double slope, double scale) {
        for (int i = 0; i <= capB; i++) {
            double x = Math.exp(-slope * i);
            pw[i] = flush(x);
            pwLo[i] = flush(x - pw[i]);
        }
        for (int i = 0; i < capB; i++) {
            qdec[i] = flush(scale * Math.exp(-slope * (i + 1)));
        }
        Arrays.fill(w, 0, wOff + Tiles.L + 1, 0f);
        for (int x = 0; x <= wOff; x++) {
            w[wOff - x] = flush(scale * Math.exp(-slope * x));
        }
    }

    /** Rounds to f32, flushing what would be a subnormal float to zero (it contributes nothing; it only slows fma). */
    private static float flush(double x) {
        return Math.abs(x) < Float.MIN_NORMAL ? 0f : (float) x;
    }

    // ------------------------------------------------------------------------------------------------ forward

    /**
     * Forward of one (sequence, head): tokens {@code row0 .. row0+len-1} (row = b·T + t), head h of H,
     * state at element {@code st} of the state tensors.
     */
    void forward(LightningChunked.Args c, long row0, int len, int h, long st) {
        int d = capD, e = capE, blk = capB, heads = c.shape().heads();
        decays(c.slopes()[h], c.scale());
        boolean hasState = c.s0() != null;
        if (hasState) {
            loadState(c.s0(), st, p);
        }
        for (int t0 = 0; t0 < len; t0 += blk) {
            int n = Math.min(blk, len - t0);
            int nPad = Tiles.pad(n);
            long base = (row0 + t0) * heads + h;
            loadRows(c.q(), base, heads, d, n, q, ldd);
            loadRows(c.k(), base, heads, d, n, k, ldd);
            loadRows(c.v(), base, heads, e, n, v, lde);
            // intra: O = ((Q Kᵀ) ⊙ D) V
            Tiles.transpose(k, ldd, n, d, kt, ldB);
            Tiles.mul(q, ldd, kt, ldB, a, ldB, n, nPad, d, Tiles.LOWER_OUT, false);
            Tiles.mask(a, ldB, n, w, wOff);
            Tiles.mul(a, ldB, v, lde, t3, lde, n, lde, n, Tiles.LOWER_IN, false);
            if (hasState) {
                // inter: O += diag(scale·λ^{i+1}) Q S
                Tiles.scaleRows(q, ldd, n, qdec, 0, 1);
                Tiles.mul(q, ldd, p, lde, t3, lde, n, lde, d, Tiles.FULL, true);
                Tiles.scaleSplit(p, d * lde, pw[n], pwLo[n]);
            }
            storeRows(t3, lde, c.out(), base, heads, e, n);
            // S ← λ^n S + Kᵀ diag(λ^{n-1-j}) V
            Tiles.scaleRows(v, lde, n, pw, n - 1, -1);
            Tiles.mulTransA(k, ldd, v, lde, p, lde, d, lde, n, Tiles.FULL, hasState);
            hasState = true;
        }
        if (c.sT() != null) {
            storeState(hasState ? p : null, c.sT(), st);
        }
    }

    // ----------------------------------------------------------------------------------------------- backward

    /** Backward of one (sequence, head); writes dq, dk, dv rows and the dInitialState slice. */
    void backward(LightningChunked.Args c, long row0, int len, int h, long st) {
        int d = capD, e = capE, blk = capB, heads = c.shape().heads();
        decays(c.slopes()[h], c.scale());
        // pass 1, blocks ascending: dq (intra + inter against the running state), intra parts of dk and dv.
        // The state is kept transposed (Sᵀ, e×d): dq only ever needs dO Sᵀ.
        boolean hasState = c.s0() != null;
        if (hasState) {
            loadState(c.s0(), st, p);
            Tiles.transpose(p, lde, d, e, pt, ldd);
        }
        for (int t0 = 0; t0 < len; t0 += blk) {
            int n = Math.min(blk, len - t0);
            int nPad = Tiles.pad(n);
            long base = (row0 + t0) * heads + h;
            loadRows(c.q(), base, heads, d, n, q, ldd);
            loadRows(c.k(), base, heads, d, n, k, ldd);
            loadRows(c.v(), base, heads, e, n, v, lde);
            loadRows(c.dOut(), base, heads, e, n, g, lde);
            Tiles.transpose(k, ldd, n, d, kt, ldB);
            Tiles.transpose(v, lde, n, e, vt, ldB);
            // A = (Q Kᵀ) ⊙ D, M = (dO Vᵀ) ⊙ D, both with the scale folded into D
            Tiles.mul(q, ldd, kt, ldB, a, ldB, n, nPad, d, Tiles.LOWER_OUT, false);
            Tiles.mask(a, ldB, n, w, wOff);
            Tiles.mul(g, lde, vt, ldB, m, ldB, n, nPad, e, Tiles.LOWER_OUT, false);
            Tiles.mask(m, ldB, n, w, wOff);
            // dQ = M K + diag(scale·λ^{i+1}) dO Sᵀ
            Tiles.mul(m, ldB, k, ldd, t1, ldd, n, ldd, n, Tiles.LOWER_IN, false);
            if (hasState) {
                Tiles.scaleRowsInto(g, gs, lde, n, qdec, 0, 1);
                Tiles.mul(gs, lde, pt, ldd, t1, ldd, n, ldd, e, Tiles.FULL, true);
            }
            storeRows(t1, ldd, c.dq(), base, heads, d, n);
            // dK_intra = Mᵀ Q, dV_intra = Aᵀ dO
            Tiles.mulTransA(m, ldB, q, ldd, t2, ldd, n, ldd, n, Tiles.UPPER_IN, false);
            storeRows(t2, ldd, c.dk(), base, heads, d, n);
            Tiles.mulTransA(a, ldB, g, lde, t3, lde, n, lde, n, Tiles.UPPER_IN, false);
            storeRows(t3, lde, c.dv(), base, heads, e, n);
            if (t0 + n < len) {
                // Sᵀ ← λ^n Sᵀ + Vᵀ diag(λ^{n-1-j}) K
                if (hasState) {
                    Tiles.scaleSplit(pt, e * ldd, pw[n], pwLo[n]);
                }
                Tiles.scaleRows(k, ldd, n, pw, n - 1, -1);
                Tiles.mulTransA(v, lde, k, ldd, pt, ldd, e, ldd, n, Tiles.FULL, hasState);
                hasState = true;
            }
        }
        // pass 2, blocks descending: dS carried backwards gives the inter parts of dk and dv, and dS0
        boolean hasGrad = c.dsT() != null;
        float[] ds = p; // d×e
        float[] dst = pt; // its transpose, e×d
        if (hasGrad) {
            loadState(c.dsT(), st, ds);
        }
        int last = len == 0 ? -1 : (len - 1) / blk * blk;
        for (int t0 = last; t0 >= 0; t0 -= blk) {
            int n = Math.min(blk, len - t0);
            long base = (row0 + t0) * heads + h;
            loadRows(c.q(), base, heads, d, n, q, ldd);
            loadRows(c.dOut(), base, heads, e, n, g, lde);
            if (hasGrad) {
                loadRows(c.k(), base, heads, d, n, k, ldd);
                loadRows(c.v(), base, heads, e, n, v, lde);
                // dK += diag(λ^{n-1-j}) V dSᵀ, dV += diag(λ^{n-1-j}) K dS
                Tiles.transpose(ds, lde, d, e, dst, ldd);
                Tiles.scaleRows(v, lde, n, pw, n - 1, -1);
                Tiles.mul(v, lde, dst, ldd, t2, ldd, n, ldd, e, Tiles.FULL, false);
                addRows(t2, ldd, c.dk(), base, heads, d, n);
                Tiles.scaleRows(k, ldd, n, pw, n - 1, -1);
                Tiles.mul(k, ldd, ds, lde, t3, lde, n, lde, d, Tiles.FULL, false);
                addRows(t3, lde, c.dv(), base, heads, e, n);
                Tiles.scaleSplit(ds, d * lde, pw[n], pwLo[n]);
            }
            // dS ← λ^n dS + Qᵀ diag(scale·λ^{i+1}) dO
            Tiles.scaleRowsInto(g, gs, lde, n, qdec, 0, 1);
            Tiles.mulTransA(q, ldd, gs, lde, ds, lde, d, lde, n, Tiles.FULL, hasGrad);
            hasGrad = true;
        }
        if (c.ds0() != null) {
            storeState(hasGrad ? ds : null, c.ds0(), st);
        }
    }

    // ------------------------------------------------------------------------------------------------- moving

    /**
     * Rows {@code base + r·heads} (r < n) of width {@code width} into {@code dst} with leading dimension ld.
     * Vector loads straight from the segment (a bulk copy per row costs more than the row itself).
     */
    private static void loadRows(MemorySegment seg, long base, int heads, int width, int n, float[] dst, int ld) {
        int vecEnd = width - width % Tiles.L;
        for (int r = 0; r < n; r++) {
            long off = (base + (long) r * heads) * width * Float.BYTES;
            int di = r * ld;
            int c = 0;
            for (; c < vecEnd; c += Tiles.L) {
                FloatVector.fromMemorySegment(Tiles.S, seg, off + (long) c * Float.BYTES, ByteOrder.nativeOrder())
                        .intoArray(dst, di + c);
            }
            for (; c < width; c++) {
                dst[di + c] = seg.get(LightningIo.F32, off + (long) c * Float.BYTES);
            }
        }
    }

    private static void storeRows(float[] src, int ld, MemorySegment seg, long base, int heads, int width, int n) {
        int vecEnd = width - width % Tiles.L;
        for (int r = 0; r < n; r++) {
            long off = (base + (long) r * heads) * width * Float.BYTES;
            int si = r * ld;
            int c = 0;
            for (; c < vecEnd; c += Tiles.L) {
                FloatVector.fromArray(Tiles.S, src, si + c)
                        .intoMemorySegment(seg, off + (long) c * Float.BYTES, ByteOrder.nativeOrder());
            }
            for (; c < width; c++) {
                seg.set(LightningIo.F32, off + (long) c * Float.BYTES, src[si + c]);
            }
        }
    }

    /** Adds the tile rows to the segment rows (read, add, write back). */
    private static void addRows(float[] src, int ld, MemorySegment seg, long base, int heads, int width, int n) {
        int vecEnd = width - width % Tiles.L;
        for (int r = 0; r < n; r++) {
            long off = (base + (long) r * heads) * width * Float.BYTES;
            int si = r * ld;
            int c = 0;
            for (; c < vecEnd; c += Tiles.L) {
                long o = off + (long) c * Float.BYTES;
                FloatVector.fromMemorySegment(Tiles.S, seg, o, ByteOrder.nativeOrder())
                        .add(FloatVector.fromArray(Tiles.S, src, si + c))
                        .intoMemorySegment(seg, o, ByteOrder.nativeOrder());
            }
            for (; c < width; c++) {
                long o = off + (long) c * Float.BYTES;
                seg.set(LightningIo.F32, o, seg.get(LightningIo.F32, o) + src[si + c]);
            }
        }
    }

    /** A d×e state slice at element {@code st} into a d×lde tile (padding zeroed). */
    private void loadState(MemorySegment seg, long st, float[] dst) {
        Arrays.fill(dst, 0, capD * lde, 0f);
        for (int a = 0; a < capD; a++) {
            LightningIo.load(seg, st + (long) a * capE, dst, a * lde, capE);
        }
    }

    /** Writes a d×lde tile (or zeros when {@code src} is null) to the d×e state slice at element {@code st}. */
    private void storeState(float[] src, MemorySegment seg, long st) {
        if (src == null) {
            seg.asSlice(st * Float.BYTES, (long) capD * capE * Float.BYTES).fill((byte) 0);
            return;
        }
        for (int a = 0; a < capD; a++) {
            LightningIo.store(src, a * lde, seg, st + (long) a * capE, capE);
        }
    }
}
