package fulgur.dist.sp;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.dist.CommOp;
import fulgur.dist.TestArrays;
import fulgur.dist.local.LocalWorld;
import fulgur.ops.attention.SoftmaxAttention;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** LASP-2H softmax attention: N ranks give the whole-sequence tiled op's values and gradients. */
class Lasp2hAttentionTest {
    static final int B = 2, H = 4, HKV = 2, D = 8, DV = 6;

    record Part(double[] out, double[] dq, double[] dk, double[] dv) {}

    @ParameterizedTest(name = "{0} ranks, {1} tokens each, causal {2}")
    @CsvSource({"1, 13, true", "2, 13, true", "3, 13, true", "4, 9, true", "3, 7, false"})
    void matchesWholeSequenceAttention(int ranks, int perRank, boolean causal) {
        int t = ranks * perRank;
        Rng rng = new Rng(17);
        float[] q = rng.normal(DType.F32, 0, 1, B, t, H, D).toFloatArray();
        float[] k = rng.normal(DType.F32, 0, 1, B, t, HKV, D).toFloatArray();
        float[] v = rng.normal(DType.F32, 0, 1, B, t, HKV, DV).toFloatArray();
        float[] w = rng.normal(DType.F32, 0, 1, B, t, H, DV).toFloatArray();
        double scale = 1 / Math.sqrt(D);
        Part ref;
        try (Scope s = Scope.open()) {
            Tensor qt = Tensor.of(q, B, t, H, D).requiresGrad(true);
            Tensor kt = Tensor.of(k, B, t, HKV, D).requiresGrad(true);
            Tensor vt = Tensor.of(v, B, t, HKV, DV).requiresGrad(true);
            Tensor o = SoftmaxAttention.attention(qt, kt, vt, scale, causal, 0);
            o.mul(Tensor.of(w, B, t, H, DV)).sum().backward();
            ref = new Part(
                    o.toDoubleArray(),
                    qt.grad().toDoubleArray(),
                    kt.grad().toDoubleArray(),
                    vt.grad().toDoubleArray());
        }
        SequenceLayout layout = SequenceLayout.even(t, ranks);
        List<Part> parts = LocalWorld.run(ranks, Duration.ofSeconds(60), pg -> {
            try (Scope s = Scope.open()) {
                int r = pg.rank();
                Tensor qt = SequenceParallel.slice(Tensor.of(q, B, t, H, D), layout, r)
                        .requiresGrad(true);
                Tensor kt = SequenceParallel.slice(Tensor.of(k, B, t, HKV, D), layout, r)
                        .requiresGrad(true);
                Tensor vt = SequenceParallel.slice(Tensor.of(v, B, t, HKV, DV), layout, r)
                        .requiresGrad(true);
                Tensor o = new Lasp2hAttention(pg, layout).apply(qt, kt, vt, scale, causal);
                o.mul(SequenceParallel.slice(Tensor.of(w, B, t, H, DV), layout, r))
                        .sum()
                        .backward();
                assertThat(pg.stats().calls(CommOp.ALL_GATHER)).isEqualTo(2);
                assertThat(pg.stats().elements(CommOp.ALL_GATHER)).isEqualTo((long) B * perRank * HKV * (D + DV));
                assertThat(pg.stats().calls(CommOp.REDUCE_SCATTER)).isEqualTo(2);
                assertThat(pg.stats().elements(CommOp.REDUCE_SCATTER))
                        .isEqualTo((long) ranks * B * perRank * HKV * (D + DV));
                return new Part(
                        o.toDoubleArray(),
                        qt.grad().toDoubleArray(),
                        kt.grad().toDoubleArray(),
                        vt.grad().toDoubleArray());
            }
        });
        assertThat(TestArrays.relErr(join(parts, Part::out, perRank, H * DV), ref.out()))
                .isLessThan(1e-5);
        assertThat(TestArrays.relErr(join(parts, Part::dq, perRank, H * D), ref.dq()))
                .isLessThan(1e-5);
        assertThat(TestArrays.relErr(join(parts, Part::dk, perRank, HKV * D), ref.dk()))
                .isLessThan(1e-5);
        assertThat(TestArrays.relErr(join(parts, Part::dv, perRank, HKV * DV), ref.dv()))
                .isLessThan(1e-5);
    }

    static double[] join(List<Part> parts, java.util.function.Function<Part, double[]> f, int perRank, int rowWidth) {
        int ranks = parts.size();
        int row = perRank * rowWidth;
        double[] out = new double[B * ranks * row];
        for (int r = 0; r < ranks; r++) {
            double[] p = f.apply(parts.get(r));
            for (int b = 0; b < B; b++) {
                System.arraycopy(p, b * row, out, (b * ranks + r) * row, row);
            }
        }
        return out;
    }
}
