package fulgur.ops.attention;

import fulgur.backend.cpu.Lanes;
import fulgur.backend.cpu.Parallel;
import fulgur.tensor.Elements;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The f32 loop of {@link PagedAttentionCpu}: per sequence and key/value head, walk the sequence's tokens in tiles of
 * {@link #TILE}, reading each token's key and value from its block where it lies (bf16 widened on load) once for all
 * the query heads of the group, and keep each head's running maximum m, normaliser l and unnormalised output
 * (flash-decoding's online softmax, exp by {@link Lanes#exp}); splits of {@link #SPLIT} tokens are walked apart and
 * combined; write o = acc / l.
 *
 * <p>A unit of work takes the key/value heads of consecutive sequences over one split and walks them tile by tile,
 * sequence after sequence within a tile: sequences that share a prefix (the serving engine's prefix cache) name the
 * same blocks, so the tile loaded for the first is reused for the others instead of read again. Each sequence's
 * arithmetic is the same whichever sequences and heads share its unit, so a sequence decodes to the same bits alone or
 * in a batch.
 */
final class PagedAttentionKernel {
    static final int TILE = 64;
    /** Tokens per split of a sequence (a multiple of {@link #TILE}). */
    static final int SPLIT = 512;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** bf16 lanes loaded per step: as many as one float vector holds. */
    private static final VectorSpecies<Short> H = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));

    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, S.vectorShape());
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    /** For the transposing sum of {@link #dots8} (16 lanes): lane i swapped with lane i ^ h; the upper h of each 2h. */
    private static final VectorShuffle<Float> SWAP8 = swap(8), SWAP4 = swap(4), SWAP2 = swap(2), SWAP1 = swap(1);

    private static final VectorMask<Float> UP8 = upper(8), UP4 = upper(4), UP2 = upper(2);
    /** Lane 2i to lane i, and the first 8 lanes: the 8 sums of {@link #dots8}. */
    private static final VectorShuffle<Float> EVENS = VectorShuffle.fromOp(S, i -> 2 * i % L);

    private static final VectorMask<Float> FIRST8 = S.indexInRange(0, 8);

    private PagedAttentionKernel() {}

    /**
     * One cache: its storage, the element offset of block 0 and the strides of blocks, rows and heads (the head dim
     * contiguous), bf16 or f32.
     */
    record Cache(MemorySegment seg, long offset, long blockStride, long rowStride, long headStride, boolean bf16) {
        long at(int block, int row, int head) {
            return offset + block * blockStride + row * rowStride + head * headStride;
        }
    }

    /** Per-thread scratch, grown on demand. */
    private static final class Scratch {
        float[] q = new float[0], acc = new float[0], m = new float[0], l = new float[0];
        float[] s = new float[0], k = new float[0], v = new float[0];

        static float[] grow(float[] a, int n) {
            return a.length >= n ? a : new float[n];
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);
    /** The calling thread's buffer of the units' partial results, grown on demand. */
    private static final ThreadLocal<float[]> PARTS = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * o[n, h] for every sequence and head: q and o are contiguous f32 [N, H, D]; table holds N rows of maxBlocks ids;
     * the entries were checked.
     *
     * <p>A unit of work takes every key/value head of a group of consecutive sequences over one split of
     * {@link #SPLIT} tokens, so that it reads each cached token's keys and values for all heads as one contiguous row
     * (a whole block of the cache at a time), where one head at a time read a head's slice of every row: 9–10 GB/s
     * from memory at a 4K context where the weights of the same step streamed at three times that. Each unit keeps a
     * running maximum, normaliser and unnormalised output per query head; the splits of a sequence are then combined
     * in order. The splits fall at fixed multiples of {@link #SPLIT}, so a sequence gets the same bits whatever the
     * batch and the thread count.
     */
    static void decode(
            PagedDecodeShape g, float scale, float[] q, Cache k, Cache v, int[] table, int[] lens, float[] o) {
        int n = g.seqs(), h = g.heads(), d = g.headDim();
        int maxLen = 0;
        for (int i = 0; i < n; i++) {
            maxLen = Math.max(maxLen, lens[i]);
        }
        int splits = Math.max(1, (maxLen + SPLIT - 1) / SPLIT);
        // consecutive sequences share a unit, so that a tile of blocks they share is loaded once; only as many groups
        // as keep the threads busy
        int threads = Parallel.threads();
        int groups = Math.min(n, Math.max(1, (threads + splits - 1) / splits));
        // and key/value heads apart only where sequences and splits leave threads idle (one short sequence, many cores)
        int heads = Math.min(g.kvHeads(), Math.max(1, (threads + groups * splits - 1) / (groups * splits)));
        float[] parts = partsBuffer(splits * n * h * (d + 2));
        Parallel.forRange(groups * splits * heads, 1, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int grp = u / (splits * heads), sp = u / heads % splits, hg = u % heads;
                int n0 = (int) ((long) n * grp / groups), n1 = (int) ((long) n * (grp + 1) / groups);
                int kh0 = g.kvHeads() * hg / heads, kh1 = g.kvHeads() * (hg + 1) / heads;
                unit(g, scale, n0, n1, sp, kh0, kh1, q, k, v, table, lens, parts);
            }
        });
        combine(g, splits, lens, parts, o);
    }

    /** The calling thread's buffer of at least {@code floats} for the units' partial results. */
    private static float[] partsBuffer(int floats) {
        float[] part = PARTS.get();
        if (part.length < floats) {
            part = new float[floats];
            PARTS.set(part);
        }
        return part;
    }

    /**
     * Key/value heads [kh0, kh1) of sequences [n0, n1) over tokens [sp·SPLIT, (sp + 1)·SPLIT): each of their query
     * heads' running maximum, normaliser and unnormalised output go to {@code part} at
     * {@code ((sp·N + n)·H + head)·(D + 2)}.
     */
    private static void unit(
            PagedDecodeShape g,
            float scale,
            int n0,
            int n1,
            int sp,
            int kh0,
            int kh1,
            float[] q,
            Cache k,
            Cache v,
            int[] table,
            int[] lens,
            float[] part) {
        int d = g.headDim(), h = g.heads(), hk = g.kvHeads(), gs = g.group(), rows = (n1 - n0) * h;
        int t0 = sp * SPLIT, t1 = t0 + SPLIT;
        Scratch t = SCRATCH.get();
        t.q = Scratch.grow(t.q, rows * d);
        t.acc = Scratch.grow(t.acc, rows * d);
        t.m = Scratch.grow(t.m, rows);
        t.l = Scratch.grow(t.l, rows);
        t.s = Scratch.grow(t.s, gs * TILE);
        t.k = Scratch.grow(t.k, hk * TILE * d);
        t.v = Scratch.grow(t.v, hk * TILE * d);
        int end = t0;
        // only the query heads of this unit's key/value heads (rows (n - n0)·H + head, as the tiles index them)
        int q0 = kh0 * gs * d, q1 = kh1 * gs * d;
        for (int n = n0; n < n1; n++) {
            int src = n * h * d, dst = (n - n0) * h * d;
            for (int e = q0; e < q1; e++) {
                t.q[dst + e] = q[src + e] * scale;
            }
            end = Math.max(end, Math.min(lens[n], t1));
        }
        Arrays.fill(t.acc, 0, rows * d, 0f);
        Arrays.fill(t.m, 0, rows, Float.NEGATIVE_INFINITY);
        Arrays.fill(t.l, 0, rows, 0f);
        for (int j0 = t0; j0 < end; j0 += TILE) {
            int loadedFor = -1, loaded = 0;
            for (int n = n0; n < n1; n++) {
                int nk = Math.min(TILE, Math.min(lens[n], t1) - j0);
                if (nk <= 0) {
                    continue;
                }
                if (loadedFor < 0 || nk > loaded || !sameBlocks(g, table, loadedFor, n, j0, nk)) {
                    load(g, table, n, j0, nk, kh0, kh1, k, t.k);
                    load(g, table, n, j0, nk, kh0, kh1, v, t.v);
                    loadedFor = n;
                    loaded = nk;
                }
                for (int kh = kh0; kh < kh1; kh++) {
                    tile(t, (n - n0) * h + kh * gs, gs, d, nk, kh * TILE * d);
                }
            }
        }
        for (int n = n0; n < n1; n++) {
            for (int hh = kh0 * gs; hh < kh1 * gs; hh++) {
                int st = (n - n0) * h + hh, at = ((sp * g.seqs() + n) * h + hh) * (d + 2);
                part[at] = t.m[st];
                part[at + 1] = t.l[st];
                System.arraycopy(t.acc, st * d, part, at + 2, d);
            }
        }
    }

    /**
     * o = Σ_sp acc_sp·e^(m_sp − m) / Σ_sp l_sp·e^(m_sp − m) over the splits that hold tokens, in order (m their
     * maximum); one split gives acc / l exactly.
     */
    private static void combine(PagedDecodeShape g, int splits, int[] lens, float[] part, float[] o) {
        int n = g.seqs(), h = g.heads(), d = g.headDim();
        for (int seq = 0; seq < n; seq++) {
            int used = Math.min(splits, (lens[seq] + SPLIT - 1) / SPLIT);
            for (int hh = 0; hh < h; hh++) {
                int out = (seq * h + hh) * d;
                float mx = Float.NEGATIVE_INFINITY;
                for (int sp = 0; sp < used; sp++) {
                    mx = Math.max(mx, part[((sp * n + seq) * h + hh) * (d + 2)]);
                }
                float l = 0;
                Arrays.fill(o, out, out + d, 0f);
                for (int sp = 0; sp < used; sp++) {
                    int at = ((sp * n + seq) * h + hh) * (d + 2);
                    float f = (float) Math.exp(part[at] - mx);
                    l += part[at + 1] * f;
                    for (int e = 0; e < d; e++) {
                        o[out + e] += part[at + 2 + e] * f;
                    }
                }
                float inv = 1f / l;
                for (int e = 0; e < d; e++) {
                    o[out + e] *= inv;
                }
            }
        }
    }

    /** Whether the tokens [j0, j0 + nk) of sequences a and b lie in the same blocks. */
    private static boolean sameBlocks(PagedDecodeShape g, int[] table, int a, int b, int j0, int nk) {
        int bs = g.blockSize(), mb = g.maxBlocks();
        for (int blk = j0 / bs; blk <= (j0 + nk - 1) / bs; blk++) {
            if (table[a * mb + blk] != table[b * mb + blk]) {
                return false;
            }
        }
        return true;
    }

    /**
     * Rows [j0, j0 + nk) of sequence n, key/value heads [kh0, kh1), into dst: head kh's nk × D f32 tile at row
     * {@code kh·TILE}; each cached row's part is read from start to end.
     */
    private static void load(
            PagedDecodeShape g, int[] table, int n, int j0, int nk, int kh0, int kh1, Cache c, float[] dst) {
        int bs = g.blockSize(), d = g.headDim();
        for (int i = 0; i < nk; i++) {
            int tok = j0 + i;
            int block = table[n * g.maxBlocks() + tok / bs];
            for (int kh = kh0; kh < kh1; kh++) {
                long at = c.at(block, tok % bs, kh);
                if (c.bf16()) {
                    widen(c.seg(), at * 2, dst, (kh * TILE + i) * d, d);
                } else {
                    MemorySegment.copy(c.seg(), F32, at * 4, dst, (kh * TILE + i) * d, d);
                }
            }
        }
    }

    /** d bf16 values at byte {@code at} as floats (exact: a bf16 is the high half of the float's bits). */
    private static void widen(MemorySegment seg, long at, float[] dst, int off, int d) {
        int e = 0;
        for (; e <= d - L; e += L) {
            ((IntVector) ShortVector.fromMemorySegment(H, seg, at + 2L * e, NATIVE)
                            .convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16)
                    .reinterpretAsFloats()
                    .intoArray(dst, off + e);
        }
        for (; e < d; e++) {
            dst[off + e] = Elements.bf16ToFloat(seg.get(BF16, at + 2L * e));
        }
    }

    /**
     * One tile of nk tokens (keys in t.k, values in t.v, from element {@code kvo}) for the gs query heads whose state
     * starts at row st0.
     */
    private static void tile(Scratch t, int st0, int gs, int d, int nk, int kvo) {
        float[] s = t.s;
        int c0 = 0;
        if (L == 16 && d >= L) {
            for (; c0 + 8 <= nk; c0 += 8) {
                for (int r = 0; r < gs; r++) {
                    dots8(t.q, (st0 + r) * d, t.k, kvo + c0 * d, d, s, r * TILE + c0);
                }
            }
        }
        for (int c = c0; c < nk; c++) {
            for (int r = 0; r < gs; r++) {
                s[r * TILE + c] = dot(t.q, (st0 + r) * d, t.k, kvo + c * d, d);
            }
        }
        for (int r = 0; r < gs; r++) {
            int st = st0 + r, sr = r * TILE;
            float mx = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < nk; c++) {
                mx = Math.max(mx, s[sr + c]);
            }
            float mOld = t.m[st], mNew = Math.max(mOld, mx);
            if (mOld != Float.NEGATIVE_INFINITY && mNew != mOld) {
                float corr = (float) Math.exp(mOld - mNew);
                t.l[st] *= corr;
                scale(t.acc, st * d, d, corr);
            }
            t.m[st] = mNew;
            FloatVector sum = FloatVector.zero(S);
            for (int c = 0; c < nk; c += L) {
                VectorMask<Float> in = S.indexInRange(c, nk);
                FloatVector p = Lanes.exp(FloatVector.fromArray(S, s, sr + c).sub(mNew));
                p = FloatVector.zero(S).blend(p, in);
                p.intoArray(s, sr + c);
                sum = sum.add(p);
            }
            t.l[st] += Lanes.sum(sum);
            // acc[0, d) += Σ_c p[c]·v[c]
            AttentionKernel.weighted(s, sr, t.v, kvo, nk, d, t.acc, st * d, true);
        }
    }

    /**
     * {@code s[so + c] = dot(q[qo ..], k[ko + c·d ..])} for 8 tokens c at once, bit for bit as {@link #dot} gives them:
     * each token's products go into its own vector in the same order, and the 8 vectors' lanes are summed by a
     * transposing tree (halves, then quarters, ... of two vectors at a time) that pairs the lanes exactly as
     * {@link Lanes#sum} does, leaving token c's sum in lanes 2c and 2c + 1. A sum of lanes per token cost 45 % of a
     * Llama's decoding step at a 4K context; the tree takes seven two-vector steps and one add for 8 tokens. (16 tokens
     * at once made the method too large for the JIT to inline the steps, which then boxed their vectors.)
     */
    static void dots8(float[] q, int qo, float[] k, int ko, int d, float[] s, int so) {
        FloatVector a0 = FloatVector.zero(S);
        FloatVector a1 = FloatVector.zero(S);
        FloatVector a2 = FloatVector.zero(S);
        FloatVector a3 = FloatVector.zero(S);
        FloatVector a4 = FloatVector.zero(S);
        FloatVector a5 = FloatVector.zero(S);
        FloatVector a6 = FloatVector.zero(S);
        FloatVector a7 = FloatVector.zero(S);
        int vecEnd = d - d % L;
        for (int e = 0; e < vecEnd; e += L) {
            FloatVector qv = FloatVector.fromArray(S, q, qo + e);
            a0 = qv.fma(FloatVector.fromArray(S, k, ko + e), a0);
            a1 = qv.fma(FloatVector.fromArray(S, k, ko + d + e), a1);
            a2 = qv.fma(FloatVector.fromArray(S, k, ko + 2 * d + e), a2);
            a3 = qv.fma(FloatVector.fromArray(S, k, ko + 3 * d + e), a3);
            a4 = qv.fma(FloatVector.fromArray(S, k, ko + 4 * d + e), a4);
            a5 = qv.fma(FloatVector.fromArray(S, k, ko + 5 * d + e), a5);
            a6 = qv.fma(FloatVector.fromArray(S, k, ko + 6 * d + e), a6);
            a7 = qv.fma(FloatVector.fromArray(S, k, ko + 7 * d + e), a7);
        }
        // distance 8: lanes 0–7 hold token i's half sums, lanes 8–15 token i + 4's
        a0 = half(a0, a4, SWAP8, UP8);
        a1 = half(a1, a5, SWAP8, UP8);
        a2 = half(a2, a6, SWAP8, UP8);
        a3 = half(a3, a7, SWAP8, UP8);
        a0 = half(a0, a2, SWAP4, UP4);
        a1 = half(a1, a3, SWAP4, UP4);
        a0 = half(a0, a1, SWAP2, UP2);
        a0.add(a0.rearrange(SWAP1)).rearrange(EVENS).intoArray(s, so, FIRST8);
        for (int c = 0; c < 8 && vecEnd < d; c++) {
            float sum = s[so + c];
            for (int i = vecEnd; i < d; i++) {
                sum = Math.fma(q[qo + i], k[ko + c * d + i], sum);
            }
            s[so + c] = sum;
        }
    }

    /**
     * The sums of lanes {@code h} apart within each block of {@code 2h} lanes: x's in the block's first half, y's in
     * its second (each lane plus its partner, the pairs {@link Lanes#sum} adds). One-vector shuffles and a blend, which
     * compile to less than a two-vector shuffle: the JIT stops inlining once a method grows too large.
     */
    private static FloatVector half(FloatVector x, FloatVector y, VectorShuffle<Float> swap, VectorMask<Float> up) {
        return x.add(x.rearrange(swap)).blend(y.add(y.rearrange(swap)), up);
    }

    private static VectorShuffle<Float> swap(int h) {
        return VectorShuffle.fromOp(S, i -> L < 2 * h ? i : i ^ h);
    }

    private static VectorMask<Float> upper(int h) {
        boolean[] up = new boolean[L];
        for (int i = 0; i < L; i++) {
            up[i] = L >= 2 * h && i % (2 * h) >= h;
        }
        return VectorMask.fromArray(S, up, 0);
    }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int i = 0;
        float sum = 0;
        if (n >= L) {
            FloatVector acc = FloatVector.zero(S);
            for (; i <= n - L; i += L) {
                acc = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc);
            }
            sum = Lanes.sum(acc);
        }
        for (; i < n; i++) {
            sum = Math.fma(a[ao + i], b[bo + i], sum);
        }
        return sum;
    }

    private static void scale(float[] x, int off, int n, float a) {
        for (int i = 0; i < n; i++) {
            x[off + i] *= a;
        }
    }
}
