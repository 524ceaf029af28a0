package fulgur.cuda.ops.attention;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.ops.KernelChoice;
import fulgur.ops.attention.PagedAttentionKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link PagedAttentionKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}) on
 * {@link PagedAttention#decode}: bf16 q and caches, head dims {@link AttentionShape#HEAD_DIMS}, blocks of a multiple of
 * 16 tokens, caches with a contiguous head dim and 16-byte aligned rows. Other arguments decode through the gather path
 * of {@link fulgur.ops.attention.PagedKvCache}.
 */
public final class CudaPagedAttention implements PagedAttentionKernels {
    private final PagedAttention paged;

    public CudaPagedAttention(CudaBackend backend) {
        this.paged = new PagedAttention(backend);
    }

    public static CudaPagedAttention on(Device device) {
        return new CudaPagedAttention(CudaBackend.of(device));
    }

    @Override
    public boolean supports(Tensor q, Tensor kCache, Tensor vCache, double scale) {
        if (q.dtype() != DType.BF16 || kCache.dtype() != DType.BF16 || vCache.dtype() != DType.BF16) {
            return KernelChoice.note(
                    "paged attention", false, "the paged decode kernel takes bf16, got q " + q.describe());
        }
        boolean fits = q.ndim() == 3
                && kCache.ndim() == 4
                && java.util.Arrays.equals(kCache.shape(), vCache.shape())
                && AttentionShape.contains(AttentionShape.HEAD_DIMS, q.size(2))
                && kCache.size(3) == q.size(2)
                && kCache.size(1) % 16 == 0
                && kCache.size(1) >= 16
                && q.size(1) % kCache.size(2) == 0
                && q.size(0) >= 1
                && q.size(0) <= 65535
                && scale > 0
                && Operand.aligned(kCache)
                && Operand.aligned(vCache);
        if (!fits) {
            return KernelChoice.note(
                    "paged attention",
                    false,
                    "the paged decode kernel takes head dims " + AttentionShape.dims(AttentionShape.HEAD_DIMS)
                            + ", blocks of a multiple of 16 tokens and aligned caches, got q " + q.describe()
                            + ", kCache " + kCache.describe());
        }
        return KernelChoice.note("paged attention", true, "paged decode (head dim " + q.size(2) + ")");
    }

    @Override
    public Tensor decode(Tensor q, Tensor kCache, Tensor vCache, Tensor blockTable, Tensor seqLens, double scale) {
        PagedAttention.Output r = paged.decode(q, kCache, vCache, blockTable, seqLens, scale);
        r.lse().close();
        return r.out();
    }
}
