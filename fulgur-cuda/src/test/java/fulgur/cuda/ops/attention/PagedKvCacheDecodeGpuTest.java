package fulgur.cuda.ops.attention;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.backend.Kernels;
import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.OutputCheck;
import fulgur.ops.attention.PagedAttentionKernels;
import fulgur.ops.attention.PagedKvCache;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Decoding through {@link PagedKvCache} on CUDA: {@link CudaPagedAttention} (one call per layer for every
 * row, reading the blocks where they lie) against the gather path (the family hidden: each row's blocks gathered for
 * flash attention), for sequences that share a prefix's blocks, past block boundaries, two layers.
 */
@Tag("gpu")
class PagedKvCacheDecodeGpuTest {

    @ParameterizedTest(name = "H={0} Hkv={1} D={2}")
    @CsvSource({"8, 2, 64", "4, 4, 128", "12, 6, 64"})
    void decodesAsTheGatherPathInOneCallPerLayer(int h, int hk, int d) {
        BackendCheck.gpu();
        PagedAttentionKernels cuda = CudaPagedAttention.on(GPU);
        int[] calls = {0};
        PagedAttentionKernels counting = new PagedAttentionKernels() {
            @Override
            public boolean supports(Tensor q, Tensor kCache, Tensor vCache, double scale) {
                return cuda.supports(q, kCache, vCache, scale);
            }

            @Override
            public Tensor decode(
                    Tensor q, Tensor kCache, Tensor vCache, Tensor blockTable, Tensor seqLens, double scale) {
                calls[0]++;
                return cuda.decode(q, kCache, vCache, blockTable, seqLens, scale);
            }
        };
        Rng rng = new Rng(31L * h + d);
        double scale = 1 / Math.sqrt(d);
        int steps = 20;
        try (Scope s = Scope.open("paged-kv-gpu");
                var g = GradMode.noGrad();
                PagedKvCache paged = new PagedKvCache(PagedKvCache.DEFAULT_BLOCK_TOKENS);
                PagedKvCache gathered = new PagedKvCache(PagedKvCache.DEFAULT_BLOCK_TOKENS)) {
            PagedKvCache[] caches = {paged, gathered};
            Tensor[] base = qkv(rng, 1, 40, h, hk, d);
            Tensor[] own = qkv(rng, 1, 5, h, hk, d);
            List<List<PagedKvCache.Sequence>> seqs = List.of(new ArrayList<>(), new ArrayList<>());
            for (int c = 0; c < 2; c++) {
                try (var use = Kernels.use(PagedAttentionKernels.class, c == 0 ? counting : null)) {
                    PagedKvCache.Sequence b = caches[c].newSequence();
                    PagedKvCache.Sequence o = caches[c].newSequence();
                    prefill(caches[c], b, base, scale);
                    prefill(caches[c], o, own, scale);
                    // the whole prefix, part of its last block, exactly its first two blocks, one of its own
                    seqs.get(c).addAll(List.of(b, b.share(40), b.share(23), b.share(32), o));
                }
            }
            assertThat(calls[0]).as("prefills run the gather path").isZero();
            for (int step = 0; step < steps; step++) {
                Tensor[] x = qkv(rng, 5, 1, h, hk, d);
                Tensor[][] outs = new Tensor[2][2];
                for (int c = 0; c < 2; c++) {
                    try (var use = Kernels.use(PagedAttentionKernels.class, c == 0 ? counting : null)) {
                        PagedKvCache.Rows rows = caches[c].rows(seqs.get(c), 1);
                        for (int layer = 0; layer < 2; layer++) {
                            outs[c][layer] = rows.layer(layer).attend(x[0], x[1], x[2], scale);
                        }
                        rows.advance(1);
                    }
                }
                OutputCheck check = new OutputCheck("paged decode step " + step + " H=" + h + " Hkv=" + hk + " D=" + d);
                for (int layer = 0; layer < 2; layer++) {
                    assertThat(outs[0][layer].dtype()).isEqualTo(DType.BF16);
                    assertThat(outs[0][layer].shape()).containsExactly(5, 1, h, d);
                    // two bf16 roundings of f32 arithmetic (relative L2 about 2^-9), at the paged kernel's own
                    // tolerance
                    check.add(
                            "layer " + layer,
                            outs[0][layer].toDoubleArray(),
                            outs[1][layer].toDoubleArray(),
                            1e-2,
                            5,
                            h,
                            d);
                }
                check.verify();
            }
            assertThat(calls[0])
                    .as("one call per layer and step for all five rows")
                    .isEqualTo(2 * steps);
        }
    }

    private static Tensor[] qkv(Rng rng, int rows, int tokens, int h, int hk, int d) {
        return new Tensor[] {
            rng.normal(DType.F32, 0, 1, rows, tokens, h, d).to(DType.BF16).to(GPU),
            rng.normal(DType.F32, 0, 1, rows, tokens, hk, d).to(DType.BF16).to(GPU),
            rng.normal(DType.F32, 0, 1, rows, tokens, hk, d).to(DType.BF16).to(GPU)
        };
    }

    private static void prefill(PagedKvCache cache, PagedKvCache.Sequence seq, Tensor[] x, double scale) {
        int t = x[0].size(1);
        PagedKvCache.Rows rows = cache.rows(List.of(seq), t);
        for (int layer = 0; layer < 2; layer++) {
            rows.layer(layer).attend(x[0], x[1], x[2], scale);
        }
        rows.advance(t);
    }
}
