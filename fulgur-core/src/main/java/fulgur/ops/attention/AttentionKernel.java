package fulgur.ops.attention;

import fulgur.backend.cpu.Parallel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The f32 tiled softmax-attention kernel (FlashAttention-2 on the CPU). Forward, per (batch, head, block of
 * {@link #FORWARD_BLOCK_Q} queries): walk the visible key blocks of {@link #BLOCK_K} keys keeping a running row
 * maximum m, normaliser l and unnormalised output; write o = acc / l and the row log-sum-exp m + log l. Backward, with
 * D_i = dO_i·O_i and P_ij = exp(scale·q_i·k_j − lse_i): dV_j = Σ_i P_ij dO_i, dS_ij = P_ij (dO_i·v_j − D_i),
 * dK_j = scale Σ_i dS_ij q_i, dQ_i = scale Σ_j dS_ij k_j. Two passes keep the writes race-free: one over
 * (batch, key/value head, key block) for dK and dV (summing the heads of the group), one over
 * (batch, head, query block) for dQ; each recomputes P. Segments hold contiguous native-order f32.
 */
final class AttentionKernel {
    static final int BLOCK_Q = 32;
    /**
     * Queries per unit of the forward: each key block is loaded and transposed once for this many rows (at 32 the
     * transposes took a quarter of a Llama's 4K-token prefill). A row's arithmetic does not depend on it.
     */
    static final int FORWARD_BLOCK_Q = 128;

    static final int BLOCK_K = 64;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private AttentionKernel() {}

    /** Per-thread scratch, grown on demand. */
    private static final class Scratch {
        float[] q = new float[0], k = new float[0], v = new float[0], acc = new float[0], g = new float[0];
        float[] s = new float[0], m = new float[0], l = new float[0], dk = new float[0], dv = new float[0];
        /** The key and value blocks transposed ([dim][BLOCK_K]) and a second row of dot products. */
        float[] kT = new float[0], vT = new float[0], s2 = new float[0];

        static float[] grow(float[] a, int n) {
            return a.length >= n ? a : new float[n];
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** Number of keys visible to query i (whole-sequence rule j ≤ offset + i), capped at tk. */
    private static int visible(AttentionShape s, boolean causal, long offset, int i) {
        return causal ? (int) Math.min(s.tk(), offset + i + 1) : s.tk();
    }

    // ------------------------------------------------------------------------------------------------ forward

    static void forward(
            AttentionShape s,
            float scale,
            boolean causal,
            long offset,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            MemorySegment out,
            MemorySegment lse) {
        int qBlocks = (s.tq() + FORWARD_BLOCK_Q - 1) / FORWARD_BLOCK_Q;
        int d = s.d(), dv = s.dv();
        Parallel.forRange(s.batch() * s.heads() * qBlocks, 1, (u0, u1) -> {
            Scratch t = SCRATCH.get();
            t.q = Scratch.grow(t.q, FORWARD_BLOCK_Q * d);
            t.acc = Scratch.grow(t.acc, FORWARD_BLOCK_Q * dv);
            t.k = Scratch.grow(t.k, BLOCK_K * d);
            t.v = Scratch.grow(t.v, BLOCK_K * dv);
            t.s = Scratch.grow(t.s, FORWARD_BLOCK_Q * BLOCK_K);
            t.kT = Scratch.grow(t.kT, BLOCK_K * d);
            t.m = Scratch.grow(t.m, FORWARD_BLOCK_Q);
            t.l = Scratch.grow(t.l, FORWARD_BLOCK_Q);
            for (int u = u0; u < u1; u++) {
                int qb = u % qBlocks, bh = u / qBlocks, h = bh % s.heads(), b = bh / s.heads(), g = h / s.group();
                int i0 = qb * FORWARD_BLOCK_Q, nq = Math.min(FORWARD_BLOCK_Q, s.tq() - i0);
                for (int r = 0; r < nq; r++) {
                    load(q, s.qRow(b, i0 + r, h), t.q, r * d, d);
                    scale(t.q, r * d, d, scale);
                }
                Arrays.fill(t.acc, 0, nq * dv, 0f);
                Arrays.fill(t.m, 0, nq, Float.NEGATIVE_INFINITY);
                Arrays.fill(t.l, 0, nq, 0f);
                int kEnd = visible(s, causal, offset, i0 + nq - 1);
                for (int j0 = 0; j0 < kEnd; j0 += BLOCK_K) {
                    int nk = Math.min(BLOCK_K, kEnd - j0);
                    for (int c = 0; c < nk; c++) {
                        load(k, s.kRow(b, j0 + c, g), t.k, c * d, d);
                        load(v, s.vRow(b, j0 + c, g), t.v, c * dv, dv);
                    }
                    transpose(t.k, nk, d, t.kT);
                    // scores two rows at a time (twice the independent fmas); a row's scores past its own limit
                    // are computed for its neighbour's sake and never read
                    for (int r = 0; r < nq; r += 2) {
                        int lim = Math.min(nk, visible(s, causal, offset, i0 + Math.min(r + 1, nq - 1)) - j0);
                        if (lim <= 0) {
                            continue;
                        }
                        if (r + 1 < nq) {
                            dots2(t.q, r * d, t.kT, lim, d, t.s, r * BLOCK_K);
                        } else {
                            dots(t.q, r * d, t.kT, lim, d, t.s, r * BLOCK_K);
                        }
                    }
                    for (int r = 0; r < nq; r++) {
                        int lim = Math.min(nk, visible(s, causal, offset, i0 + r) - j0);
                        if (lim <= 0) {
                            continue;
                        }
                        int sr = r * BLOCK_K;
                        float mx = Float.NEGATIVE_INFINITY;
                        for (int c = 0; c < lim; c++) {
                            mx = Math.max(mx, t.s[sr + c]);
                        }
                        float mOld = t.m[r];
                        float mNew = Math.max(mOld, mx);
                        if (mOld != Float.NEGATIVE_INFINITY && mNew != mOld) {
                            float corr = (float) Math.exp(mOld - mNew);
                            t.l[r] *= corr;
                            scale(t.acc, r * dv, dv, corr);
                        }
                        float sum = 0;
                        for (int c = 0; c < lim; c++) {
                            float p = (float) Math.exp(t.s[sr + c] - mNew);
                            t.s[sr + c] = p;
                            sum += p;
                        }
                        weighted(t.s, sr, t.v, 0, lim, dv, t.acc, r * dv, false);
                        t.l[r] += sum;
                        t.m[r] = mNew;
                    }
                }
                for (int r = 0; r < nq; r++) {
                    scale(t.acc, r * dv, dv, 1f / t.l[r]);
                    store(t.acc, r * dv, out, s.oRow(b, i0 + r, h), dv);
                    lse.setAtIndex(F32, s.lseIndex(b, h, i0 + r), t.m[r] + (float) Math.log(t.l[r]));
                }
            }
        });
    }

    // ----------------------------------------------------------------------------------------------- backward

    static void backward(
            AttentionShape s,
            float scale,
            boolean causal,
            long offset,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            MemorySegment out,
            MemorySegment lse,
            MemorySegment dOut,
            MemorySegment dq,
            MemorySegment dk,
            MemorySegment dv) {
        int d = s.d(), e = s.dv();
        // D_i = dO_i · O_i, laid out like lse
        float[] delta = new float[s.batch() * s.heads() * s.tq()];
        Parallel.forRange(s.batch() * s.tq(), 16, (r0, r1) -> {
            Scratch t = SCRATCH.get();
            t.g = Scratch.grow(t.g, e);
            t.acc = Scratch.grow(t.acc, e);
            for (int r = r0; r < r1; r++) {
                int b = r / s.tq(), i = r % s.tq();
                for (int h = 0; h < s.heads(); h++) {
                    load(dOut, s.oRow(b, i, h), t.g, 0, e);
                    load(out, s.oRow(b, i, h), t.acc, 0, e);
                    delta[(int) s.lseIndex(b, h, i)] = dot(t.g, 0, t.acc, 0, e);
                }
            }
        });
        float[] lseArr = lse.toArray(F32);
        // pass 1: dK, dV per (batch, kv head, key block), over the query heads of the group and the queries that see it
        int kBlocks = (s.tk() + BLOCK_K - 1) / BLOCK_K;
        Parallel.forRange(s.batch() * s.kvHeads() * kBlocks, 1, (u0, u1) -> {
            Scratch t = SCRATCH.get();
            t.k = Scratch.grow(t.k, BLOCK_K * d);
            t.v = Scratch.grow(t.v, BLOCK_K * e);
            t.dk = Scratch.grow(t.dk, BLOCK_K * d);
            t.dv = Scratch.grow(t.dv, BLOCK_K * e);
            t.q = Scratch.grow(t.q, d);
            t.g = Scratch.grow(t.g, e);
            t.kT = Scratch.grow(t.kT, BLOCK_K * d);
            t.vT = Scratch.grow(t.vT, BLOCK_K * e);
            t.s = Scratch.grow(t.s, BLOCK_K);
            t.s2 = Scratch.grow(t.s2, BLOCK_K);
            for (int u = u0; u < u1; u++) {
                int kb = u % kBlocks, bg = u / kBlocks, g = bg % s.kvHeads(), b = bg / s.kvHeads();
                int j0 = kb * BLOCK_K, nk = Math.min(BLOCK_K, s.tk() - j0);
                for (int c = 0; c < nk; c++) {
                    load(k, s.kRow(b, j0 + c, g), t.k, c * d, d);
                    load(v, s.vRow(b, j0 + c, g), t.v, c * e, e);
                }
                transpose(t.k, nk, d, t.kT);
                transpose(t.v, nk, e, t.vT);
                Arrays.fill(t.dk, 0, nk * d, 0f);
                Arrays.fill(t.dv, 0, nk * e, 0f);
                // first query that sees key j0: offset + i >= j0
                int iStart = causal ? (int) Math.max(0, Math.min(s.tq(), j0 - offset)) : 0;
                for (int h = g * s.group(); h < (g + 1) * s.group(); h++) {
                    for (int i = iStart; i < s.tq(); i++) {
                        int lim = Math.min(nk, visible(s, causal, offset, i) - j0);
                        if (lim <= 0) {
                            continue;
                        }
                        load(q, s.qRow(b, i, h), t.q, 0, d);
                        scale(t.q, 0, d, scale);
                        load(dOut, s.oRow(b, i, h), t.g, 0, e);
                        int li = (int) s.lseIndex(b, h, i);
                        float lseI = lseArr[li], dI = delta[li];
                        dots(t.q, 0, t.kT, lim, d, t.s, 0);
                        dots(t.g, 0, t.vT, lim, e, t.s2, 0);
                        for (int c = 0; c < lim; c++) {
                            float p = (float) Math.exp(t.s[c] - lseI);
                            axpy(p, t.g, 0, t.dv, c * e, e);
                            float ds = p * (t.s2[c] - dI);
                            axpy(ds, t.q, 0, t.dk, c * d, d); // q already carries the scale
                        }
                    }
                }
                for (int c = 0; c < nk; c++) {
                    store(t.dk, c * d, dk, s.kRow(b, j0 + c, g), d);
                    store(t.dv, c * e, dv, s.vRow(b, j0 + c, g), e);
                }
            }
        });
        // pass 2: dQ per (batch, head, query block)
        int qBlocks = (s.tq() + BLOCK_Q - 1) / BLOCK_Q;
        Parallel.forRange(s.batch() * s.heads() * qBlocks, 1, (u0, u1) -> {
            Scratch t = SCRATCH.get();
            t.q = Scratch.grow(t.q, BLOCK_Q * d);
            t.g = Scratch.grow(t.g, BLOCK_Q * e);
            t.acc = Scratch.grow(t.acc, BLOCK_Q * d);
            t.k = Scratch.grow(t.k, BLOCK_K * d);
            t.v = Scratch.grow(t.v, BLOCK_K * e);
            t.kT = Scratch.grow(t.kT, BLOCK_K * d);
            t.vT = Scratch.grow(t.vT, BLOCK_K * e);
            t.s = Scratch.grow(t.s, BLOCK_K);
            t.s2 = Scratch.grow(t.s2, BLOCK_K);
            for (int u = u0; u < u1; u++) {
                int qb = u % qBlocks, bh = u / qBlocks, h = bh % s.heads(), b = bh / s.heads(), g = h / s.group();
                int i0 = qb * BLOCK_Q, nq = Math.min(BLOCK_Q, s.tq() - i0);
                for (int r = 0; r < nq; r++) {
                    load(q, s.qRow(b, i0 + r, h), t.q, r * d, d);
                    scale(t.q, r * d, d, scale);
                    load(dOut, s.oRow(b, i0 + r, h), t.g, r * e, e);
                }
                Arrays.fill(t.acc, 0, nq * d, 0f);
                int kEnd = visible(s, causal, offset, i0 + nq - 1);
                for (int j0 = 0; j0 < kEnd; j0 += BLOCK_K) {
                    int nk = Math.min(BLOCK_K, kEnd - j0);
                    for (int c = 0; c < nk; c++) {
                        load(k, s.kRow(b, j0 + c, g), t.k, c * d, d);
                        load(v, s.vRow(b, j0 + c, g), t.v, c * e, e);
                    }
                    transpose(t.k, nk, d, t.kT);
                    transpose(t.v, nk, e, t.vT);
                    for (int r = 0; r < nq; r++) {
                        int lim = Math.min(nk, visible(s, causal, offset, i0 + r) - j0);
                        int li = (int) s.lseIndex(b, h, i0 + r);
                        float lseI = lseArr[li], dI = delta[li];
                        if (lim > 0) {
                            dots(t.q, r * d, t.kT, lim, d, t.s, 0);
                            dots(t.g, r * e, t.vT, lim, e, t.s2, 0);
                        }
                        for (int c = 0; c < lim; c++) {
                            float p = (float) Math.exp(t.s[c] - lseI);
                            float ds = p * (t.s2[c] - dI);
                            axpy(ds * scale, t.k, c * d, t.acc, r * d, d);
                        }
                    }
                }
                for (int r = 0; r < nq; r++) {
                    store(t.acc, r * d, dq, s.qRow(b, i0 + r, h), d);
                }
            }
        });
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static void load(MemorySegment seg, long index, float[] dst, int off, int n) {
        MemorySegment.copy(seg, F32, index * Float.BYTES, dst, off, n);
    }

    private static void store(float[] src, int off, MemorySegment seg, long index, int n) {
        MemorySegment.copy(src, off, seg, F32, index * Float.BYTES, n);
    }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int l = S.length(), i = 0;
        float sum = 0;
        if (n >= l) {
            FloatVector acc = FloatVector.zero(S);
            for (; i <= n - l; i += l) {
                acc = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc);
            }
            sum = fulgur.backend.cpu.Lanes.sum(acc);
        }
        for (; i < n; i++) {
            sum += a[ao + i] * b[bo + i];
        }
        return sum;
    }

    /**
     * {@code out[oo + c] = Σ_i x[xo + i]·yT[i·BLOCK_K + c]} for {@code c < n} (and up to the next whole vector): a
     * row against a block stored transposed, one key per lane, so no dot product ends in a sum across lanes.
     */
    static void dots(float[] x, int xo, float[] yT, int n, int dim, float[] out, int oo) {
        int l = S.length(), vectors = (n + l - 1) / l, j = 0;
        for (; j + 4 <= vectors; j += 4) {
            int c = j * l;
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int i = 0, row = c; i < dim; i++, row += BLOCK_K) {
                FloatVector xi = FloatVector.broadcast(S, x[xo + i]);
                a0 = FloatVector.fromArray(S, yT, row).fma(xi, a0);
                a1 = FloatVector.fromArray(S, yT, row + l).fma(xi, a1);
                a2 = FloatVector.fromArray(S, yT, row + 2 * l).fma(xi, a2);
                a3 = FloatVector.fromArray(S, yT, row + 3 * l).fma(xi, a3);
            }
            a0.intoArray(out, oo + c);
            a1.intoArray(out, oo + c + l);
            a2.intoArray(out, oo + c + 2 * l);
            a3.intoArray(out, oo + c + 3 * l);
        }
        for (; j < vectors; j++) {
            int c = j * l;
            FloatVector a = FloatVector.zero(S);
            for (int i = 0, row = c; i < dim; i++, row += BLOCK_K) {
                a = FloatVector.fromArray(S, yT, row).fma(FloatVector.broadcast(S, x[xo + i]), a);
            }
            a.intoArray(out, oo + c);
        }
    }

    /**
     * {@link #dots} for rows x[xo ..] and x[xo + dim ..] at once, into out[oo ..] and out[oo + BLOCK_K ..]: each
     * block of the keys is loaded once for both rows, and eight chains of fmas run side by side where four did.
     */
    static void dots2(float[] x, int xo, float[] yT, int n, int dim, float[] out, int oo) {
        int l = S.length(), vectors = (n + l - 1) / l, j = 0, xo2 = xo + dim, oo2 = oo + BLOCK_K;
        for (; j + 4 <= vectors; j += 4) {
            int c = j * l;
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int i = 0, row = c; i < dim; i++, row += BLOCK_K) {
                FloatVector xi = FloatVector.broadcast(S, x[xo + i]);
                FloatVector wi = FloatVector.broadcast(S, x[xo2 + i]);
                FloatVector y0 = FloatVector.fromArray(S, yT, row);
                FloatVector y1 = FloatVector.fromArray(S, yT, row + l);
                FloatVector y2 = FloatVector.fromArray(S, yT, row + 2 * l);
                FloatVector y3 = FloatVector.fromArray(S, yT, row + 3 * l);
                a0 = y0.fma(xi, a0);
                a1 = y1.fma(xi, a1);
                a2 = y2.fma(xi, a2);
                a3 = y3.fma(xi, a3);
                b0 = y0.fma(wi, b0);
                b1 = y1.fma(wi, b1);
                b2 = y2.fma(wi, b2);
                b3 = y3.fma(wi, b3);
            }
            a0.intoArray(out, oo + c);
            a1.intoArray(out, oo + c + l);
            a2.intoArray(out, oo + c + 2 * l);
            a3.intoArray(out, oo + c + 3 * l);
            b0.intoArray(out, oo2 + c);
            b1.intoArray(out, oo2 + c + l);
            b2.intoArray(out, oo2 + c + 2 * l);
            b3.intoArray(out, oo2 + c + 3 * l);
        }
        for (; j < vectors; j++) {
            int c = j * l;
            FloatVector a = FloatVector.zero(S), b = a;
            for (int i = 0, row = c; i < dim; i++, row += BLOCK_K) {
                FloatVector y = FloatVector.fromArray(S, yT, row);
                a = y.fma(FloatVector.broadcast(S, x[xo + i]), a);
                b = y.fma(FloatVector.broadcast(S, x[xo2 + i]), b);
            }
            a.intoArray(out, oo + c);
            b.intoArray(out, oo2 + c);
        }
    }

    /** yT[i·BLOCK_K + c] = y[c·dim + i] for the n rows of a block; the columns past n are zero. */
    static void transpose(float[] y, int n, int dim, float[] yT) {
        for (int i = 0; i < dim; i++) {
            int row = i * BLOCK_K;
            for (int c = 0; c < n; c++) {
                yT[row + c] = y[c * dim + i];
            }
            Arrays.fill(yT, row + n, row + BLOCK_K, 0f);
        }
    }

    /**
     * {@code acc[ao + e] += Σ_c p[po + c]·v[vo + c·n + e]} for e < n, c < keys, the row of acc held in registers over
     * the keys (four vectors at a time) instead of loaded and stored back for each key: bit for bit {@link #axpy} of
     * every key in turn, or with {@code fusedTail} the same with the elements past the last whole vector fused
     * ({@code Math.fma}), as the paged decoding kernel has always summed them.
     */
    static void weighted(
            float[] p, int po, float[] v, int vo, int keys, int n, float[] acc, int ao, boolean fusedTail) {
        int l = S.length(), e = 0;
        for (; e <= n - 4 * l; e += 4 * l) {
            FloatVector a0 = FloatVector.fromArray(S, acc, ao + e);
            FloatVector a1 = FloatVector.fromArray(S, acc, ao + e + l);
            FloatVector a2 = FloatVector.fromArray(S, acc, ao + e + 2 * l);
            FloatVector a3 = FloatVector.fromArray(S, acc, ao + e + 3 * l);
            for (int c = 0, at = vo + e; c < keys; c++, at += n) {
                FloatVector w = FloatVector.broadcast(S, p[po + c]);
                a0 = FloatVector.fromArray(S, v, at).fma(w, a0);
                a1 = FloatVector.fromArray(S, v, at + l).fma(w, a1);
                a2 = FloatVector.fromArray(S, v, at + 2 * l).fma(w, a2);
                a3 = FloatVector.fromArray(S, v, at + 3 * l).fma(w, a3);
            }
            a0.intoArray(acc, ao + e);
            a1.intoArray(acc, ao + e + l);
            a2.intoArray(acc, ao + e + 2 * l);
            a3.intoArray(acc, ao + e + 3 * l);
        }
        for (; e <= n - l; e += l) {
            FloatVector a = FloatVector.fromArray(S, acc, ao + e);
            for (int c = 0, at = vo + e; c < keys; c++, at += n) {
                a = FloatVector.fromArray(S, v, at).fma(FloatVector.broadcast(S, p[po + c]), a);
            }
            a.intoArray(acc, ao + e);
        }
        for (; e < n; e++) {
            float a = acc[ao + e];
            for (int c = 0, at = vo + e; c < keys; c++, at += n) {
                a = fusedTail ? Math.fma(v[at], p[po + c], a) : a + p[po + c] * v[at];
            }
            acc[ao + e] = a;
        }
    }

    /** y += a·x over n elements. */
    static void axpy(float a, float[] x, int xo, float[] y, int yo, int n) {
        int l = S.length(), i = 0;
        FloatVector av = FloatVector.broadcast(S, a);
        for (; i <= n - l; i += l) {
            FloatVector.fromArray(S, x, xo + i)
                    .fma(av, FloatVector.fromArray(S, y, yo + i))
                    .intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            y[yo + i] += a * x[xo + i];
        }
    }

    private static void scale(float[] x, int off, int n, float a) {
        for (int i = 0; i < n; i++) {
            x[off + i] *= a;
        }
    }
}
