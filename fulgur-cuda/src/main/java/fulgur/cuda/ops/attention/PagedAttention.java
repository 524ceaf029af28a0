package fulgur.cuda.ops.attention;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.Kernel;
import fulgur.cuda.ops.LaunchContext;
import fulgur.ops.attention.PagedDecodeShape;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.util.Map;

/**
 * Decoding against a paged KV cache (serving): one new query token per sequence attends to that sequence's cached
 * keys and values, which live in fixed-size blocks of a shared pool named by a per-sequence block table.
 * <pre>
 *   kCache, vCache  bf16 [numBlocks, blockSize, Hkv, D]     (blockSize a multiple of 16)
 *   blockTable      i32  [N, maxBlocks]: token t of sequence n lives in block blockTable[n, t / blockSize], row t % blockSize
 *   seqLens         i32  [N]: tokens cached for sequence n (the new token's key and value included)
 *   q               bf16 [N, H, D]  ->  o bf16 [N, H, D], lse f32 [N, H]
 * </pre>
 * Sequences of different lengths share one launch; the lengths stay on the device. The cache of each sequence is
 * split into chunks processed by separate CTAs (flash-decoding) when the batch alone would not fill the GPU; the
 * chunks are merged by a second kernel. The query heads of one key/value head are the rows of the tensor-core tiles,
 * so grouped-query attention reads each cached key once per group. {@link #append} writes the new token's key and
 * value into its slot first. Kernels in {@code flash_attn.cu}.
 */
public final class PagedAttention {
    private static final float LOG2E = 1.4426950408889634f;
    private static final int WARPS = 4;

    private final LaunchContext lc;

    public PagedAttention(CudaBackend backend) {
        this.lc = new LaunchContext(backend);
    }

    public static PagedAttention on(Device device) {
        return new PagedAttention((CudaBackend) LaunchContext.of(device).backend());
    }

    /** Decode result: o [N, H, D] and the log-sum-exp [N, H]. */
    public record Output(Tensor out, Tensor lse) implements AutoCloseable {
        @Override
        public void close() {
            out.close();
            lse.close();
        }
    }

    private Kernel kernel(int d, String name) {
        return lc.kernel(FlashAttention.FILE, Map.of("HD", Integer.toString(d)), name);
    }

    static int smem(int d) {
        return (1 + 4 * WARPS) * 16 * FlashAttention.smemCols(d) * 2;
    }

    /** Cache geometry checked from the tensors' metadata. */
    record Geometry(int seqs, int heads, int kvHeads, int headDim, int blockSize, int maxBlocks) {
        static Geometry of(String op, Tensor q, Tensor kCache, Tensor vCache, Tensor blockTable, Tensor seqLens) {
            if (q == null || kCache == null || vCache == null || blockTable == null || seqLens == null) {
                throw new IllegalArgumentException(op + ": q, kCache, vCache, blockTable and seqLens must not be null");
            }
            if (q.ndim() != 3 || q.dtype() != DType.BF16)
                throw new IllegalArgumentException(op + ": q must be bf16 [N, H, D], got " + q.describe());
            for (Tensor c : new Tensor[] {kCache, vCache}) {
                if (c.ndim() != 4 || c.dtype() != DType.BF16) {
                    throw new IllegalArgumentException(
                            op + ": the caches must be bf16 [numBlocks, blockSize, Hkv, D], got " + c.describe());
                }
            }
            // the shapes every device's paged decoding checks (the scale is decode's own: 1 passes), then this kernel's
            PagedDecodeShape s = PagedDecodeShape.of(op, q, kCache, vCache, blockTable, seqLens, 1.0);
            int n = s.seqs(), d = s.headDim(), bs = s.blockSize();
            if (!AttentionShape.contains(AttentionShape.HEAD_DIMS, d)) {
                throw new IllegalArgumentException(
                        op + ": head dim " + d + " is not supported; the CUDA kernels take head dims "
                                + AttentionShape.dims(AttentionShape.HEAD_DIMS));
            }
            if (bs < 16 || bs % 16 != 0)
                throw new IllegalArgumentException(op + ": the cache block size must be a multiple of 16, got " + bs);
            if (n > 65535) throw new IllegalArgumentException(op + ": 1 to 65535 sequences, got " + n);
            return new Geometry(n, s.heads(), s.kvHeads(), d, bs, s.maxBlocks());
        }

        int rowGroups() {
            return (heads / kvHeads + 15) / 16;
        }
    }

    /** Tokens per split and the number of splits for sequences of at most {@code maxLen} tokens. */
    static int[] splits(Geometry g, int maxLen, int sms) {
        long ctas = (long) g.seqs() * g.kvHeads() * g.rowGroups();
        int maxSplits = Math.max(1, (maxLen + 63) / 64);
        int want = (int) Math.max(1, Math.min(maxSplits, (2L * sms + ctas - 1) / ctas));
        int splitLen = (int) (((long) (maxLen + want - 1) / want + 63) / 64 * 64);
        splitLen = Math.max(64, splitLen);
        int n = Math.max(1, (maxLen + splitLen - 1) / splitLen);
        return new int[] {splitLen, n};
    }

    /** Decodes with the block table's capacity as the length bound. */
    public Output decode(Tensor q, Tensor kCache, Tensor vCache, Tensor blockTable, Tensor seqLens, double scale) {
        return decode(
                q,
                kCache,
                vCache,
                blockTable,
                seqLens,
                scale,
                blockTable == null ? 1 : blockTable.size(1) * kCache.size(1));
    }

    /**
     * Decodes; {@code maxSeqLen} bounds every sequence's length (it sizes the splits; a tighter bound saves idle CTAs).
     * Lengths beyond the block table's capacity are clipped to it.
     */
    public Output decode(
            Tensor q, Tensor kCache, Tensor vCache, Tensor blockTable, Tensor seqLens, double scale, int maxSeqLen) {
        String op = "pagedAttention.decode";
        Geometry g = Geometry.of(op, q, kCache, vCache, blockTable, seqLens);
        AttentionShape.checkScale(op, scale);
        for (Tensor t : new Tensor[] {q, kCache, vCache, blockTable, seqLens}) lc.onDevice(op, "every argument", t);
        if (maxSeqLen < 1) throw new IllegalArgumentException(op + ": maxSeqLen must be >= 1, got " + maxSeqLen);
        int maxLen = (int) Math.min(maxSeqLen, (long) g.maxBlocks() * g.blockSize());
        int[] sp = splits(g, maxLen, lc.multiprocessors());
        int splitLen = sp[0], nSplits = sp[1];
        int d = g.headDim();
        Tensor o = lc.empty(DType.BF16, g.seqs(), g.heads(), d);
        Tensor lse = lc.empty(DType.F32, g.seqs(), g.heads());
        Tensor qc = lc.contiguous(q), bt = lc.contiguous(blockTable), sl = lc.contiguous(seqLens);
        Tensor partO = null, partL = null;
        try {
            checkCacheStrides(op, kCache);
            checkCacheStrides(op, vCache);
            if (nSplits > 1) {
                partO = lc.empty(DType.F32, nSplits, g.seqs(), g.heads(), d);
                partL = lc.empty(DType.F32, nSplits, g.seqs(), g.heads());
            }
            kernel(d, "fa_decode")
                    .launch(
                            lc.stream(),
                            nSplits,
                            g.kvHeads() * g.rowGroups(),
                            g.seqs(),
                            32 * WARPS,
                            smem(d),
                            lc.ptr(qc, op),
                            lc.ptr(kCache, op),
                            lc.ptr(vCache, op),
                            lc.ptr(bt, op),
                            lc.ptr(sl, op),
                            lc.ptr(o, op),
                            lc.ptr(lse, op),
                            lc.ptr(partO, op),
                            lc.ptr(partL, op),
                            g.seqs(),
                            g.heads(),
                            g.kvHeads(),
                            g.blockSize(),
                            g.maxBlocks(),
                            splitLen,
                            (float) (scale * LOG2E),
                            kCache.stride(0),
                            kCache.stride(1),
                            kCache.stride(2),
                            vCache.stride(0),
                            vCache.stride(1),
                            vCache.stride(2));
            if (nSplits > 1) {
                kernel(d, "fa_decode_combine")
                        .launch(
                                lc.stream(),
                                g.seqs() * g.heads(),
                                1,
                                1,
                                Math.min(128, d),
                                0,
                                lc.ptr(partO, op),
                                lc.ptr(partL, op),
                                lc.ptr(o, op),
                                lc.ptr(lse, op),
                                g.seqs(),
                                g.heads(),
                                nSplits);
            }
        } finally {
            LaunchContext.release(qc, q);
            LaunchContext.release(bt, blockTable);
            LaunchContext.release(sl, seqLens);
            if (partO != null) partO.close();
            if (partL != null) partL.close();
        }
        return new Output(o, lse);
    }

    /**
     * Writes kNew, vNew (bf16 [N, Hkv, D]) into the caches at each sequence's {@code positions[n]} (i32 [N]; a negative
     * position skips the sequence, as does one past the block table's capacity).
     */
    public void append(Tensor kNew, Tensor vNew, Tensor kCache, Tensor vCache, Tensor blockTable, Tensor positions) {
        String op = "pagedAttention.append";
        if (kNew == null
                || vNew == null
                || kCache == null
                || vCache == null
                || blockTable == null
                || positions == null) {
            throw new IllegalArgumentException(op + ": no argument may be null");
        }
        if (kNew.ndim() != 3
                || kNew.dtype() != DType.BF16
                || !java.util.Arrays.equals(kNew.shape(), vNew.shape())
                || vNew.dtype() != DType.BF16) {
            throw new IllegalArgumentException(op + ": kNew and vNew must be bf16 [N, Hkv, D] of one shape, got "
                    + kNew.describe() + " and " + vNew.describe());
        }
        Geometry g = Geometry.of(op, kNew, kCache, vCache, blockTable, positions);
        if (kNew.size(1) != g.kvHeads()) {
            throw new IllegalArgumentException(op + ": kNew has " + kNew.size(1) + " heads, the cache " + g.kvHeads());
        }
        for (Tensor t : new Tensor[] {kNew, vNew, kCache, vCache, blockTable, positions})
            lc.onDevice(op, "every argument", t);
        checkCacheStrides(op, kCache);
        checkCacheStrides(op, vCache);
        Tensor kc = lc.contiguous(kNew),
                vc = lc.contiguous(vNew),
                bt = lc.contiguous(blockTable),
                pc = lc.contiguous(positions);
        try {
            long chunks = (long) g.seqs() * g.kvHeads() * (g.headDim() / 8);
            int blocks = (int) Math.max(1, Math.min((chunks + 255) / 256, (long) lc.multiprocessors() * 8));
            kernel(g.headDim(), "fa_paged_append")
                    .launch(
                            lc.stream(),
                            blocks,
                            1,
                            1,
                            256,
                            0,
                            lc.ptr(kc, op),
                            lc.ptr(vc, op),
                            lc.ptr(kCache, op),
                            lc.ptr(vCache, op),
                            lc.ptr(bt, op),
                            lc.ptr(pc, op),
                            g.seqs(),
                            g.kvHeads(),
                            g.blockSize(),
                            g.maxBlocks(),
                            kCache.stride(0),
                            kCache.stride(1),
                            kCache.stride(2),
                            vCache.stride(0),
                            vCache.stride(1),
                            vCache.stride(2));
        } finally {
            LaunchContext.release(kc, kNew);
            LaunchContext.release(vc, vNew);
            LaunchContext.release(bt, blockTable);
            LaunchContext.release(pc, positions);
        }
    }

    private static void checkCacheStrides(String op, Tensor c) {
        if (!Operand.aligned(c)) {
            throw new IllegalArgumentException(
                    op + ": the caches must have a contiguous head dim and 16-byte aligned rows, got strides "
                            + java.util.Arrays.toString(c.strides()) + " of " + c.describe());
        }
    }
}
