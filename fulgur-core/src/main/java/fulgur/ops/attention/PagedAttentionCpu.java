package fulgur.ops.attention;

import fulgur.autograd.GradMode;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CPU's {@link PagedAttentionKernels} on {@link PagedAttentionKernel}: f32 or bf16 caches (both of one dtype, the
 * head dim contiguous), an f32 or bf16 q; f32 arithmetic.
 */
public final class PagedAttentionCpu implements PagedAttentionKernels {
    public static final PagedAttentionCpu INSTANCE = new PagedAttentionCpu();

    private PagedAttentionCpu() {}

    @Override
    public boolean supports(Tensor q, Tensor kCache, Tensor vCache, double scale) {
        return takes(q.dtype())
                && takes(kCache.dtype())
                && vCache.dtype() == kCache.dtype()
                && q.device().kind() == Device.Kind.CPU
                && innerContiguous(kCache)
                && innerContiguous(vCache);
    }

    @Override
    public Tensor decode(Tensor q, Tensor kCache, Tensor vCache, Tensor blockTable, Tensor seqLens, double scale) {
        String op = "pagedAttention.decode";
        PagedDecodeShape g = PagedDecodeShape.of(op, q, kCache, vCache, blockTable, seqLens, scale);
        if (!supports(q, kCache, vCache, scale)) {
            throw new IllegalArgumentException(op + ": the CPU kernel takes f32 or bf16 q and caches of one of"
                    + " those dtypes with a contiguous head dim, got q " + q.describe() + ", kCache "
                    + kCache.describe() + " (strides " + java.util.Arrays.toString(kCache.strides()) + "), vCache "
                    + vCache.describe());
        }
        try (var ng = GradMode.noGrad()) {
            int[] table = blockTable.toIntArray();
            int[] lens = seqLens.toIntArray();
            g.checkEntries(op, table, lens);
            float[] o = new float[g.seqs() * g.heads() * g.headDim()];
            PagedAttentionKernel.decode(
                    g, (float) scale, q.toFloatArray(), cache(kCache, op), cache(vCache, op), table, lens, o);
            Tensor out = Tensor.of(o, g.seqs(), g.heads(), g.headDim());
            return q.dtype() == DType.F32 ? out : out.to(q.dtype());
        }
    }

    private static boolean takes(DType t) {
        return t == DType.F32 || t == DType.BF16;
    }

    private static boolean innerContiguous(Tensor c) {
        return c.ndim() == 4 && (c.stride(3) == 1 || c.size(3) == 1);
    }

    private static PagedAttentionKernel.Cache cache(Tensor c, String op) {
        return new PagedAttentionKernel.Cache(
                c.hostSegment(op), c.offset(), c.stride(0), c.stride(1), c.stride(2), c.dtype() == DType.BF16);
    }
}
