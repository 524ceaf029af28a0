package fulgur.ops.attention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import fulgur.autograd.GradMode;
import fulgur.backend.Kernels;
import fulgur.ops.Views;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Paged keys and values give the same attention as a contiguous {@link KvCache}, for rows of different lengths in one
 * call, through block growth, sharing and copy on write; blocks go back when sequences end. Decoding runs twice: with
 * the device's {@link PagedAttentionKernels} (one call for every row, its own f32 summation order, so to f32 rounding)
 * and with them hidden (each row's blocks gathered for the softmax-attention op, to the bit).
 */
class PagedKvCacheTest {
    private static final int HEADS = 4;
    private static final int KV_HEADS = 2;
    private static final int D = 8;
    /** Two f32 computations of a softmax-weighted mean of O(1) values, over tens of small scores. */
    private static final float F32_TOL = 1e-6f;

    private static Kernels.Use decodeThrough(boolean kernel) {
        return kernel ? () -> {} : Kernels.use(PagedAttentionKernels.class, null);
    }

    private static void assertAttends(Tensor got, Tensor want, boolean kernel, String what) {
        if (kernel) {
            assertThat(got.toFloatArray()).as(what).containsExactly(want.toFloatArray(), within(F32_TOL));
        } else {
            assertThat(got.toFloatArray()).as(what).containsExactly(want.toFloatArray());
        }
    }

    @ParameterizedTest(name = "paged kernel: {0}")
    @ValueSource(booleans = {false, true})
    void rowsOfDifferentLengthsAttendInOneCallAsContiguousCachesDo(boolean kernel) {
        Rng rng = new Rng(3);
        try (Scope s = Scope.open();
                var g = GradMode.noGrad();
                var use = decodeThrough(kernel);
                PagedKvCache paged = new PagedKvCache(4)) {
            int[] prefill = {5, 1, 11};
            Scope refScope = Scope.detached("ref");
            KvCache[] ref = new KvCache[3];
            PagedKvCache.Sequence[] seqs = new PagedKvCache.Sequence[3];
            for (int r = 0; r < 3; r++) {
                ref[r] = new KvCache(refScope);
                seqs[r] = paged.newSequence();
                Tensor q = rng.normal(0, 1, 1, prefill[r], HEADS, D);
                Tensor k = rng.normal(0, 1, 1, prefill[r], KV_HEADS, D);
                Tensor v = rng.normal(0, 1, 1, prefill[r], KV_HEADS, D);
                Tensor want = ref[r].attend(q, k, v, 0.3);
                PagedKvCache.Rows rows = paged.rows(List.of(seqs[r]), prefill[r]);
                Tensor got = rows.layer(0).attend(q, k, v, 0.3);
                rows.layer(7).attend(q, k, v, 0.3); // another softmax layer: its own blocks under the same ids
                rows.advance(prefill[r]);
                assertAttends(got, want, kernel, "prefill of row " + r);
            }
            for (int step = 0; step < 9; step++) {
                Tensor q = rng.normal(0, 1, 3, 1, HEADS, D);
                Tensor k = rng.normal(0, 1, 3, 1, KV_HEADS, D);
                Tensor v = rng.normal(0, 1, 3, 1, KV_HEADS, D);
                PagedKvCache.Rows rows = paged.rows(List.of(seqs), 1);
                Tensor first = rows.layer(0).attend(q, k, v, 0.3);
                Tensor second = rows.layer(7).attend(q, k, v, 0.3);
                rows.advance(1);
                assertThat(second.toFloatArray()).containsExactly(first.toFloatArray());
                for (int r = 0; r < 3; r++) {
                    Tensor want = ref[r].attend(
                            Views.narrow(q, 0, r, 1), Views.narrow(k, 0, r, 1), Views.narrow(v, 0, r, 1), 0.3);
                    assertAttends(Views.narrow(first, 0, r, 1), want, kernel, "row " + r + " step " + step);
                }
            }
            assertThat(seqs[2].length()).isEqualTo(20);
            assertThat(seqs[2].blocks()).isEqualTo(5);
            assertThatThrownBy(() -> paged.rows(List.of(seqs), 1)
                            .layer(0)
                            .attend(
                                    Tensor.zeros(3, 2, HEADS, D),
                                    Tensor.zeros(3, 2, KV_HEADS, D),
                                    Tensor.zeros(3, 2, KV_HEADS, D),
                                    1))
                    .hasMessageContaining("3 rows and 1 tokens");
            refScope.close();
        }
    }

    @ParameterizedTest(name = "paged kernel: {0}")
    @ValueSource(booleans = {false, true})
    void decodingRowsMatchTheirOwnContiguousCacheEveryStep(boolean kernel) {
        Rng rng = new Rng(5);
        try (Scope s = Scope.open();
                var g = GradMode.noGrad();
                var use = decodeThrough(kernel);
                PagedKvCache paged = new PagedKvCache(4)) {
            Scope refScope = Scope.detached("ref");
            int[] prefill = {6, 2};
            KvCache[] ref = {new KvCache(refScope), new KvCache(refScope)};
            PagedKvCache.Sequence[] seqs = {paged.newSequence(), paged.newSequence()};
            for (int r = 0; r < 2; r++) {
                Tensor q = rng.normal(0, 1, 1, prefill[r], HEADS, D);
                Tensor k = rng.normal(0, 1, 1, prefill[r], KV_HEADS, D);
                Tensor v = rng.normal(0, 1, 1, prefill[r], KV_HEADS, D);
                ref[r].attend(q, k, v, 0.5);
                PagedKvCache.Rows rows = paged.rows(List.of(seqs[r]), prefill[r]);
                rows.layer(0).attend(q, k, v, 0.5);
                rows.advance(prefill[r]);
            }
            for (int step = 0; step < 40; step++) { // past several block boundaries and a storage growth
                Tensor q = rng.normal(0, 1, 2, 1, HEADS, D);
                Tensor k = rng.normal(0, 1, 2, 1, KV_HEADS, D);
                Tensor v = rng.normal(0, 1, 2, 1, KV_HEADS, D);
                PagedKvCache.Rows rows = paged.rows(List.of(seqs), 1);
                Tensor got = rows.layer(0).attend(q, k, v, 0.5);
                rows.advance(1);
                for (int r = 0; r < 2; r++) {
                    Tensor want = ref[r].attend(
                            Views.narrow(q, 0, r, 1), Views.narrow(k, 0, r, 1), Views.narrow(v, 0, r, 1), 0.5);
                    assertAttends(Views.narrow(got, 0, r, 1), want, kernel, "row " + r + " step " + step);
                }
            }
            assertThat(paged.blocksInUse()).isEqualTo((46 + 3) / 4 + (42 + 3) / 4);
            long perBlock = paged.bytes() / paged.blocksInUse();
            assertThat(perBlock).isEqualTo(2L * 4 * KV_HEADS * D * 4);
            seqs[0].close();
            seqs[0].close(); // twice is once
            assertThat(paged.blocksInUse()).isEqualTo((42 + 3) / 4);
            seqs[1].close();
            assertThat(paged.blocksInUse()).isZero();
            assertThat(paged.bytes()).isZero();
            assertThat(paged.reservedBytes())
                    .as("no block in use: the layers' memory is given back")
                    .isZero();
            refScope.close();
        }
    }

    @ParameterizedTest(name = "paged kernel: {0}")
    @ValueSource(booleans = {false, true})
    void sharedPrefixesAreCopiedBeforeTheyAreWritten(boolean kernel) {
        Rng rng = new Rng(9);
        try (Scope s = Scope.open();
                var g = GradMode.noGrad();
                var use = decodeThrough(kernel);
                PagedKvCache paged = new PagedKvCache(4)) {
            Tensor q = rng.normal(0, 1, 1, 6, HEADS, D);
            Tensor k = rng.normal(0, 1, 1, 6, KV_HEADS, D);
            Tensor v = rng.normal(0, 1, 1, 6, KV_HEADS, D);
            PagedKvCache.Sequence base = paged.newSequence();
            PagedKvCache.Rows rows = paged.rows(List.of(base), 6);
            rows.layer(0).attend(q, k, v, 0.5);
            rows.advance(6);
            PagedKvCache.Sequence a = base.share(6);
            PagedKvCache.Sequence b = base.share(6);
            assertThat(paged.blocksInUse()).as("shared, not copied").isEqualTo(2);
            Tensor q1 = rng.normal(0, 1, 1, 1, HEADS, D);
            Tensor[] outs = new Tensor[2];
            for (int i = 0; i < 2; i++) {
                Tensor k1 = rng.normal(0, 1, 1, 1, KV_HEADS, D);
                Tensor v1 = rng.normal(0, 1, 1, 1, KV_HEADS, D);
                PagedKvCache.Rows r = paged.rows(List.of(i == 0 ? a : b), 1);
                outs[i] = r.layer(0).attend(q1, k1, v1, 0.5);
                r.advance(1);
            }
            assertThat(paged.blocksInUse())
                    .as("each writer copied the half-full block")
                    .isEqualTo(4);
            assertThat(outs[0].toFloatArray()).isNotEqualTo(outs[1].toFloatArray());
            // the shared prefix itself is intact: continuing it again gives what continuing it the first time gave
            PagedKvCache.Sequence again = base.share(6);
            PagedKvCache.Rows r = paged.rows(List.of(again), 1);
            Tensor k1 = rng.normal(0, 1, 1, 1, KV_HEADS, D);
            Tensor v1 = rng.normal(0, 1, 1, 1, KV_HEADS, D);
            KvCache ref = new KvCache(Scope.current());
            ref.attend(q, k, v, 0.5);
            assertAttends(r.layer(0).attend(q1, k1, v1, 0.5), ref.attend(q1, k1, v1, 0.5), kernel, "continued");
            assertThatThrownBy(() -> base.share(7)).hasMessageContaining("7 tokens of a sequence of 6");
            for (PagedKvCache.Sequence x : List.of(base, a, b, again)) {
                x.close();
            }
            assertThat(paged.blocksInUse()).isZero();
        }
    }

    @Test
    void decodingThroughTheKernelIsOneCallPerLayerAndMatchesTheGatherPathForSharedSequences() {
        Rng rng = new Rng(21);
        int[] calls = {0};
        PagedAttentionKernels cpu = Kernels.find(PagedAttentionKernels.class, fulgur.tensor.Device.CPU);
        PagedAttentionKernels counting = new PagedAttentionKernels() {
            @Override
            public boolean supports(Tensor q, Tensor kCache, Tensor vCache, double scale) {
                return cpu.supports(q, kCache, vCache, scale);
            }

            @Override
            public Tensor decode(
                    Tensor q, Tensor kCache, Tensor vCache, Tensor blockTable, Tensor seqLens, double scale) {
                calls[0]++;
                return cpu.decode(q, kCache, vCache, blockTable, seqLens, scale);
            }
        };
        try (Scope s = Scope.open();
                var g = GradMode.noGrad();
                PagedKvCache paged = new PagedKvCache(4);
                PagedKvCache gathered = new PagedKvCache(4)) {
            PagedKvCache[] caches = {paged, gathered};
            List<List<PagedKvCache.Sequence>> seqs = List.of(new java.util.ArrayList<>(), new java.util.ArrayList<>());
            Tensor q = rng.normal(0, 1, 1, 10, HEADS, D);
            Tensor k = rng.normal(0, 1, 1, 10, KV_HEADS, D);
            Tensor v = rng.normal(0, 1, 1, 10, KV_HEADS, D);
            Tensor q3 = rng.normal(0, 1, 1, 3, HEADS, D);
            Tensor k3 = rng.normal(0, 1, 1, 3, KV_HEADS, D);
            Tensor v3 = rng.normal(0, 1, 1, 3, KV_HEADS, D);
            for (int c = 0; c < 2; c++) {
                PagedKvCache.Sequence base = caches[c].newSequence();
                PagedKvCache.Sequence fresh = caches[c].newSequence();
                for (var w : List.of(List.of(base, q, k, v), List.of(fresh, q3, k3, v3))) {
                    Tensor wq = (Tensor) w.get(1), wk = (Tensor) w.get(2), wv = (Tensor) w.get(3);
                    PagedKvCache.Rows rows = caches[c].rows(List.of((PagedKvCache.Sequence) w.get(0)), wq.size(1));
                    rows.layer(0).attend(wq, wk, wv, 0.4);
                    rows.layer(1).attend(wq, wk, wv, 0.4);
                    rows.advance(wq.size(1));
                }
                // the whole prefix, part of its last block, exactly its first two blocks, and a sequence of its own
                seqs.get(c).addAll(List.of(base, base.share(10), base.share(7), base.share(8), fresh));
            }
            int steps = 9;
            for (int step = 0; step < steps; step++) {
                Tensor sq = rng.normal(0, 1, 5, 1, HEADS, D);
                Tensor sk = rng.normal(0, 1, 5, 1, KV_HEADS, D);
                Tensor sv = rng.normal(0, 1, 5, 1, KV_HEADS, D);
                Tensor[][] outs = new Tensor[2][2];
                for (int c = 0; c < 2; c++) {
                    try (var use = Kernels.use(PagedAttentionKernels.class, c == 0 ? counting : null)) {
                        PagedKvCache.Rows rows = caches[c].rows(seqs.get(c), 1);
                        for (int layer = 0; layer < 2; layer++) {
                            outs[c][layer] = rows.layer(layer).attend(sq, sk, sv, 0.4);
                        }
                        rows.advance(1);
                    }
                }
                for (int layer = 0; layer < 2; layer++) {
                    assertThat(outs[0][layer].shape()).containsExactly(5, 1, HEADS, D);
                    assertAttends(outs[0][layer], outs[1][layer], true, "step " + step + " layer " + layer);
                }
            }
            assertThat(calls[0])
                    .as("one call per layer and step for all five rows")
                    .isEqualTo(2 * steps);
            assertThat(paged.blocksInUse()).isEqualTo(gathered.blocksInUse());
        }
    }
}
