package fulgur.cuda.ops.attention;

import static fulgur.cuda.BackendCheck.GPU;

import fulgur.cuda.BackendCheck;
import fulgur.cuda.CudaBackend;
import fulgur.cuda.ops.OutputCheck;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Paged decoding against an f64 reference: a pool of cache blocks handed out in a shuffled order, sequences of
 * different lengths in one call, the new token's key and value written by {@code append} (one sequence skipped with
 * position -1, its slot keeping the old values), output and log-sum-exp compared, and the pool checked exactly.
 */
@Tag("gpu")
class PagedAttentionGpuTest {

    @ParameterizedTest(name = "lens={0} H={1} Hkv={2} D={3} block={4}")
    @CsvSource({
        "1 17 257, 8, 2, 128, 16",
        "100 1000, 4, 4, 64, 32",
        "5 64 65 300 2000, 32, 2, 128, 16",
        "33 70 129, 40, 2, 64, 16",
        "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20, 4, 1, 32, 16",
        "50 513, 2, 1, 96, 64",
        "300 31, 4, 2, 256, 16",
    })
    void decodesAgainstTheReference(String lensText, int h, int hk, int d, int bs) {
        CudaBackend be = BackendCheck.gpu();
        PagedAttention pa = new PagedAttention(be);
        int[] lens =
                Arrays.stream(lensText.split(" ")).mapToInt(Integer::parseInt).toArray();
        int n = lens.length;
        Rng r = new Rng(500L + Arrays.hashCode(lens) + h + d + bs);
        int maxBlocks = 0, used = 0;
        for (int len : lens) {
            maxBlocks = Math.max(maxBlocks, (len + bs - 1) / bs);
            used += (len + bs - 1) / bs;
        }
        int pool = used + 3;
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < pool; i++) ids.add(i);
        Collections.shuffle(ids, new java.util.Random(r.nextLong()));
        int[] table = new int[n * maxBlocks];
        int next = 0;
        for (int s = 0; s < n; s++) {
            for (int blk = 0; blk < maxBlocks; blk++) {
                table[s * maxBlocks + blk] = blk < (lens[s] + bs - 1) / bs ? ids.get(next++) : ids.get(r.nextInt(pool));
            }
        }
        double scale = 1 / Math.sqrt(d);
        try (Scope sc = Scope.open("paged")) {
            Tensor kPool = r.normal(DType.F32, 0, 1, pool, bs, hk, d).to(DType.BF16);
            Tensor vPool = r.normal(DType.F32, 0, 1, pool, bs, hk, d).to(DType.BF16);
            Tensor q = r.normal(DType.F32, 0, 1, n, h, d).to(DType.BF16);
            Tensor kNew = r.normal(DType.F32, 0, 1, n, hk, d).to(DType.BF16);
            Tensor vNew = r.normal(DType.F32, 0, 1, n, hk, d).to(DType.BF16);
            int[] positions = new int[n];
            for (int s = 0; s < n; s++) positions[s] = s == 1 ? -1 : lens[s] - 1;

            // expected pool after the append
            double[] kp = kPool.toDoubleArray(),
                    vp = vPool.toDoubleArray(),
                    kn = kNew.toDoubleArray(),
                    vn = vNew.toDoubleArray();
            for (int s = 0; s < n; s++) {
                if (positions[s] < 0) continue;
                int blk = table[s * maxBlocks + positions[s] / bs], row = positions[s] % bs;
                for (int g = 0; g < hk; g++) {
                    for (int e = 0; e < d; e++) {
                        kp[((blk * bs + row) * hk + g) * d + e] = kn[(s * hk + g) * d + e];
                        vp[((blk * bs + row) * hk + g) * d + e] = vn[(s * hk + g) * d + e];
                    }
                }
            }
            double[] qa = q.toDoubleArray();
            double[] oRef = new double[n * h * d], lseRef = new double[n * h];
            int group = h / hk;
            for (int s = 0; s < n; s++) {
                for (int hh = 0; hh < h; hh++) {
                    int g = hh / group;
                    double[] sc2 = new double[lens[s]];
                    double m = Double.NEGATIVE_INFINITY;
                    for (int t = 0; t < lens[s]; t++) {
                        int base = ((table[s * maxBlocks + t / bs] * bs + t % bs) * hk + g) * d;
                        double acc = 0;
                        for (int e = 0; e < d; e++) acc += qa[(s * h + hh) * d + e] * kp[base + e];
                        sc2[t] = scale * acc;
                        m = Math.max(m, sc2[t]);
                    }
                    double sum = 0;
                    for (int t = 0; t < lens[s]; t++) sum += Math.exp(sc2[t] - m);
                    double lse = m + Math.log(sum);
                    lseRef[s * h + hh] = lse;
                    for (int t = 0; t < lens[s]; t++) {
                        double p = Math.exp(sc2[t] - lse);
                        int base = ((table[s * maxBlocks + t / bs] * bs + t % bs) * hk + g) * d;
                        for (int e = 0; e < d; e++) oRef[(s * h + hh) * d + e] += p * vp[base + e];
                    }
                }
            }

            Tensor kc = kPool.to(GPU), vc = vPool.to(GPU);
            Tensor bt = Tensor.ofInts(table, n, maxBlocks).to(GPU);
            pa.append(
                    kNew.to(GPU),
                    vNew.to(GPU),
                    kc,
                    vc,
                    bt,
                    Tensor.ofInts(positions, n).to(GPU));
            PagedAttention.Output out =
                    pa.decode(q.to(GPU), kc, vc, bt, Tensor.ofInts(lens, n).to(GPU), scale);
            int[] sp = PagedAttention.splits(
                    new PagedAttention.Geometry(n, h, hk, d, bs, maxBlocks),
                    maxBlocks * bs,
                    be.context().device().multiprocessors());
            OutputCheck c = new OutputCheck(String.format(
                    "paged decode lens=%s H=%d Hkv=%d D=%d block=%d (%d splits of %d tokens)",
                    lensText, h, hk, d, bs, sp[1], sp[0]));
            c.add("kCache", kc.toDoubleArray(), kp, 0, pool, bs, hk, d);
            c.add("vCache", vc.toDoubleArray(), vp, 0, pool, bs, hk, d);
            c.add("o", out.out().toDoubleArray(), oRef, 1e-2, n, h, d);
            c.add("lse", out.lse().toDoubleArray(), lseRef, 1e-4, n, h);
            c.verify();
        }
    }
}
