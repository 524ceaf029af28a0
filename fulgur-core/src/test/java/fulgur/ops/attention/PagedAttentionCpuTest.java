package fulgur.ops.attention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.backend.Kernels;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The CPU's paged decoding against an f64 softmax over each sequence's keys gathered from the table (blocks handed
 * out in a shuffled order, lengths on and off block boundaries), a batch against each of its rows alone, and the
 * arguments it refuses.
 */
class PagedAttentionCpuTest {
    private static final PagedAttentionKernels CPU = PagedAttentionCpu.INSTANCE;

    @Test
    void isTheCpuKernelOfItsFamily() {
        assertThat(Kernels.find(PagedAttentionKernels.class, Device.CPU)).isSameAs(CPU);
    }

    /** Sequences of {@code lens}, blocks of {@code bs} tokens in a pool with spares, in a shuffled order. */
    private record Pool(int[] lens, int bs, int maxBlocks, int blocks, int[] table) {
        static Pool of(int[] lens, int bs, Random r) {
            int maxBlocks = 1, used = 0;
            for (int len : lens) {
                maxBlocks = Math.max(maxBlocks, (len + bs - 1) / bs);
                used += (len + bs - 1) / bs;
            }
            int blocks = used + 3;
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < blocks; i++) {
                ids.add(i);
            }
            Collections.shuffle(ids, r);
            int[] table = new int[lens.length * maxBlocks];
            int next = 0;
            for (int n = 0; n < lens.length; n++) {
                for (int b = 0; b < maxBlocks; b++) {
                    // past a sequence's last block: any id, never read
                    table[n * maxBlocks + b] = b < (lens[n] + bs - 1) / bs ? ids.get(next++) : r.nextInt(blocks);
                }
            }
            return new Pool(lens, bs, maxBlocks, blocks, table);
        }

        Tensor tableTensor() {
            return Tensor.ofInts(table, lens.length, maxBlocks);
        }

        Tensor lensTensor() {
            return Tensor.ofInts(lens, lens.length);
        }
    }

    /** o[n, h] in f64 from the values the kernel reads (the caches' and q's elements as they are stored). */
    private static double[] reference(Pool p, double[] q, double[] k, double[] v, int h, int hk, int d, double scale) {
        int n = p.lens().length, group = h / hk;
        double[] o = new double[n * h * d];
        for (int s = 0; s < n; s++) {
            int len = p.lens()[s];
            for (int head = 0; head < h; head++) {
                int g = head / group;
                double[] w = new double[len];
                double mx = Double.NEGATIVE_INFINITY;
                for (int t = 0; t < len; t++) {
                    long row = ((long) p.table()[s * p.maxBlocks() + t / p.bs()] * p.bs() + t % p.bs()) * hk + g;
                    double dot = 0;
                    for (int e = 0; e < d; e++) {
                        dot += q[(s * h + head) * d + e] * k[(int) (row * d + e)];
                    }
                    w[t] = dot * scale;
                    mx = Math.max(mx, w[t]);
                }
                double sum = 0;
                for (int t = 0; t < len; t++) {
                    w[t] = Math.exp(w[t] - mx);
                    sum += w[t];
                }
                for (int t = 0; t < len; t++) {
                    long row = ((long) p.table()[s * p.maxBlocks() + t / p.bs()] * p.bs() + t % p.bs()) * hk + g;
                    for (int e = 0; e < d; e++) {
                        o[(s * h + head) * d + e] += w[t] / sum * v[(int) (row * d + e)];
                    }
                }
            }
        }
        return o;
    }

    @ParameterizedTest(name = "lens={0} H={1} Hkv={2} D={3} block={4} cache={5} q={6} scale×{7}")
    @CsvSource({
        "1, 4, 4, 32, 16, F32, F32, 1",
        "1 15 16 17 64 65 200, 8, 2, 64, 16, F32, F32, 1",
        "300 31 129, 12, 6, 64, 16, F32, F32, 8", // scores of spread ~8: the running maximum moves across tiles
        "5 33 100, 4, 1, 128, 4, F32, F32, 1",
        "7 70 128, 6, 3, 80, 5, F32, F32, 1", // a head dim that is not a multiple of 16, blocks of 5
        "1000 3, 2, 2, 40, 32, F32, F32, 4",
        "1 15 16 17 64 65 200, 8, 2, 64, 16, BF16, F32, 1",
        "300 31 129, 12, 6, 80, 16, BF16, F32, 8",
        "1 90 129, 8, 2, 128, 16, BF16, BF16, 1",
        "40 2 17, 4, 4, 32, 8, BF16, BF16, 8",
    })
    void decodesAsTheSoftmaxOverTheGatheredKeys(
            String lensText, int h, int hk, int d, int bs, DType cacheType, DType qType, double spread) {
        int[] lens =
                Arrays.stream(lensText.split(" ")).mapToInt(Integer::parseInt).toArray();
        Random r = new Random(Arrays.hashCode(lens) * 31L + h * 7L + d);
        Pool p = Pool.of(lens, bs, r);
        Rng rng = new Rng(r.nextLong());
        double scale = spread / Math.sqrt(d);
        try (Scope s = Scope.open()) {
            Tensor k = rng.normal(0, 1, p.blocks(), bs, hk, d).to(cacheType);
            Tensor v = rng.normal(0, 1, p.blocks(), bs, hk, d).to(cacheType);
            Tensor q = rng.normal(0, 1, lens.length, h, d).to(qType);
            assertThat(CPU.supports(q, k, v, scale)).isTrue();
            Tensor o = CPU.decode(q, k, v, p.tableTensor(), p.lensTensor(), scale);
            assertThat(o.shape()).containsExactly(lens.length, h, d);
            assertThat(o.dtype()).isEqualTo(qType);
            double[] want = reference(p, q.toDoubleArray(), k.toDoubleArray(), v.toDoubleArray(), h, hk, d, scale);
            double[] got = o.toDoubleArray();
            // f32 arithmetic: the scores' rounding grows with their size (~spread), and each weight's error with it;
            // a bf16 output adds its own rounding (unit roundoff 2^-8)
            double rel = qType == DType.BF16 ? 0x1p-8 : 0;
            for (int i = 0; i < got.length; i++) {
                double tol = 1e-6 * Math.max(1, spread) + rel * Math.abs(want[i]);
                assertThat(Math.abs(got[i] - want[i]))
                        .as("element %d (sequence %d): got %s, want %s", i, i / (h * d), got[i], want[i])
                        .isLessThanOrEqualTo(tol);
            }
        }
    }

    @ParameterizedTest(name = "cache={0}")
    @CsvSource({"F32", "BF16"})
    void aBatchGivesEachRowTheBitsItGetsAlone(DType cacheType) {
        int bs = 8, h = 8, hk = 2, d = 64;
        int[] lens = {70, 1, 129, 64, 70, 9, 1100}; // the last in three splits of the sequence
        Random r = new Random(17);
        Pool p = Pool.of(lens, bs, r);
        // rows 0 and 4 share every block (a prefix cached once), as do rows 3 and 2 over their first 64 tokens
        int[] table = p.table().clone();
        System.arraycopy(table, 0, table, 4 * p.maxBlocks(), p.maxBlocks());
        System.arraycopy(table, 2 * p.maxBlocks(), table, 3 * p.maxBlocks(), 8);
        Rng rng = new Rng(4);
        try (Scope s = Scope.open()) {
            Tensor k = rng.normal(0, 1, p.blocks(), bs, hk, d).to(cacheType);
            Tensor v = rng.normal(0, 1, p.blocks(), bs, hk, d).to(cacheType);
            Tensor q = rng.normal(0, 1, lens.length, h, d);
            Tensor all = CPU.decode(q, k, v, Tensor.ofInts(table, lens.length, p.maxBlocks()), p.lensTensor(), 0.2);
            for (int n = 0; n < lens.length; n++) {
                Tensor alone = CPU.decode(
                        q.narrow(0, n, 1),
                        k,
                        v,
                        Tensor.ofInts(
                                Arrays.copyOfRange(table, n * p.maxBlocks(), (n + 1) * p.maxBlocks()),
                                1,
                                p.maxBlocks()),
                        Tensor.ofInts(new int[] {lens[n]}, 1),
                        0.2);
                assertThat(all.narrow(0, n, 1).toFloatArray()).as("row %d", n).containsExactly(alone.toFloatArray());
            }
            // rows with the same blocks and query decode alike
            Tensor twice = CPU.decode(
                    Views.concat(0, q.narrow(0, 0, 1), q.narrow(0, 0, 1)),
                    k,
                    v,
                    Tensor.ofInts(
                            concat(
                                    Arrays.copyOfRange(table, 0, p.maxBlocks()),
                                    Arrays.copyOfRange(table, 0, p.maxBlocks())),
                            2,
                            p.maxBlocks()),
                    Tensor.ofInts(new int[] {70, 70}, 2),
                    0.2);
            assertThat(twice.narrow(0, 1, 1).toFloatArray())
                    .containsExactly(all.narrow(0, 0, 1).toFloatArray());
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    @Test
    void refusesWrongArgumentsNamingWhatIsWrong() {
        try (Scope s = Scope.open()) {
            Tensor q = Tensor.zeros(2, 4, 16);
            Tensor k = Tensor.zeros(3, 4, 2, 16);
            Tensor v = Tensor.zeros(3, 4, 2, 16);
            Tensor table = Tensor.ofInts(new int[] {0, 1, 2, 0}, 2, 2);
            Tensor lens = Tensor.ofInts(new int[] {5, 3}, 2);
            assertThat(CPU.decode(q, k, v, table, lens, 1).shape()).containsExactly(2, 4, 16);
            assertThatThrownBy(() -> CPU.decode(Tensor.zeros(2, 1, 4, 16), k, v, table, lens, 1))
                    .hasMessageContaining("q must be a floating [N >= 1, H, D]");
            assertThatThrownBy(() -> CPU.decode(Tensor.zeros(2, 4, 8), k, v, table, lens, 1))
                    .hasMessageContaining("head dim 16 differs from q's 8");
            assertThatThrownBy(() -> CPU.decode(Tensor.zeros(2, 3, 16), k, v, table, lens, 1))
                    .hasMessageContaining("3 query heads are not a multiple of 2 key/value heads");
            assertThatThrownBy(() -> CPU.decode(q, k, Tensor.zeros(3, 4, 1, 16), table, lens, 1))
                    .hasMessageContaining("kCache")
                    .hasMessageContaining("and vCache")
                    .hasMessageContaining("differ");
            assertThatThrownBy(() -> CPU.decode(q, k, v, Tensor.ofInts(new int[] {0, 1}, 2), lens, 1))
                    .hasMessageContaining("blockTable must be i32 [2, maxBlocks >= 1]");
            assertThatThrownBy(() -> CPU.decode(q, k, v, table, Tensor.ofInts(new int[] {5}, 1), 1))
                    .hasMessageContaining("seqLens must be i32 [2]");
            assertThatThrownBy(() -> CPU.decode(q, k, v, table, Tensor.ofInts(new int[] {5, 0}, 2), 1))
                    .hasMessageContaining("seqLens[1] = 0 is outside [1, 8]");
            assertThatThrownBy(() -> CPU.decode(q, k, v, table, Tensor.ofInts(new int[] {9, 1}, 2), 1))
                    .hasMessageContaining("seqLens[0] = 9 is outside [1, 8]");
            assertThatThrownBy(() -> CPU.decode(q, k, v, Tensor.ofInts(new int[] {0, 3, 2, 0}, 2, 2), lens, 1))
                    .hasMessageContaining("blockTable[0, 1] = 3 is not one of the caches' 3 blocks");
            assertThatThrownBy(() -> CPU.decode(q, k, v, table, lens, 0))
                    .hasMessageContaining("scale must be positive and finite");
            Tensor k64 = Tensor.zeros(DType.F64, 3, 4, 2, 16);
            assertThat(CPU.supports(q, k64, k64, 1)).isFalse();
            assertThatThrownBy(() -> CPU.decode(q, k64, k64, table, lens, 1))
                    .hasMessageContaining("the CPU kernel takes f32 or bf16");
        }
    }
}
