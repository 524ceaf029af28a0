package fulgur.ops.attention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.GradMode;
import fulgur.ops.Views;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Paged keys and values give the same attention as a contiguous {@link KvCache}, for rows of different lengths in one
 * call, through block growth, sharing and copy on write; blocks go back when sequences end.
 */
class PagedKvCacheTest {
    private static final int HEADS = 4;
    private static final int KV_HEADS = 2;
    private static final int D = 8;

    @Test
    void rowsOfDifferentLengthsAttendInOneCallAsContiguousCachesDo() {
        Rng rng = new Rng(3);
        try (Scope s = Scope.open();
                var g = GradMode.noGrad();
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
                assertThat(got.toFloatArray()).containsExactly(want.toFloatArray());
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
                    assertThat(Views.narrow(first, 0, r, 1).contiguous().toFloatArray())
                            .as("row %d step %d", r, step)
                            .containsExactly(want.toFloatArray());
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

    @Test
    void decodingRowsMatchTheirOwnContiguousCacheEveryStep() {
        Rng rng = new Rng(5);
        try (Scope s = Scope.open();
                var g = GradMode.noGrad();
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
                    assertThat(Views.narrow(got, 0, r, 1).contiguous().toFloatArray())
                            .as("row %d step %d", r, step)
                            .containsExactly(want.toFloatArray());
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

    @Test
    void sharedPrefixesAreCopiedBeforeTheyAreWritten() {
        Rng rng = new Rng(9);
        try (Scope s = Scope.open();
                var g = GradMode.noGrad();
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
            assertThat(r.layer(0).attend(q1, k1, v1, 0.5).toFloatArray())
                    .containsExactly(ref.attend(q1, k1, v1, 0.5).toFloatArray());
            assertThatThrownBy(() -> base.share(7)).hasMessageContaining("7 tokens of a sequence of 6");
            for (PagedKvCache.Sequence x : List.of(base, a, b, again)) {
                x.close();
            }
            assertThat(paged.blocksInUse()).isZero();
        }
    }
}
