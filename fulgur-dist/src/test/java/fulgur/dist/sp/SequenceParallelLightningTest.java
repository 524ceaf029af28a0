package fulgur.dist.sp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.dist.CommOp;
import fulgur.dist.DistException;
import fulgur.dist.TestArrays;
import fulgur.dist.local.LocalWorld;
import fulgur.ops.lightning.Lightning;
import fulgur.ops.lightning.LightningDecay;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The sequence-parallel lightning op alone: N ranks give the single-rank op's values and gradients. */
class SequenceParallelLightningTest {
    static final int B = 2, H = 3, DK = 8, DV = 5, BLOCK = 16;
    static final double SCALE = 0.7;
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (SpAlgorithm a : SpAlgorithm.values()) {
            for (int w : new int[] {1, 2, 3, 4, 8}) {
                out.add(Arguments.of(a, w, 37, true));
                out.add(Arguments.of(a, w, 13, false));
            }
        }
        return out.stream();
    }

    /** Per-rank results: output, final state (last rank), and the gradients of q, k, v, initial state. */
    record RankResult(double[] out, double[] fin, double[] dq, double[] dk, double[] dv, double[] ds0) {}

    @ParameterizedTest(name = "{0} on {1} ranks, {2} tokens each, states {3}")
    @MethodSource("cases")
    void matchesTheSingleRankOp(SpAlgorithm algorithm, int ranks, int perRank, boolean states) {
        int t = ranks * perRank;
        Rng rng = new Rng(42 + ranks);
        float[] q = rng.normal(DType.F32, 0, 0.5, B, t, H, DK).toFloatArray();
        float[] k = rng.normal(DType.F32, 0, 0.5, B, t, H, DK).toFloatArray();
        float[] v = rng.normal(DType.F32, 0, 1, B, t, H, DV).toFloatArray();
        float[] s0 = rng.normal(DType.F32, 0, 1, B, H, DK, DV).toFloatArray();
        float[] wo = rng.normal(DType.F32, 0, 1, B, t, H, DV).toFloatArray();
        float[] wf = rng.normal(DType.F32, 0, 1, B, H, DK, DV).toFloatArray();
        // strong decay in some heads, almost none in others
        double[] slopes = {LightningDecay.tnlSlopes(H, 0, 4)[0], 0.05, 0.002};

        RankResult ref;
        try (Scope s = Scope.open()) {
            Tensor qt = Tensor.of(q, B, t, H, DK).requiresGrad(true);
            Tensor kt = Tensor.of(k, B, t, H, DK).requiresGrad(true);
            Tensor vt = Tensor.of(v, B, t, H, DV).requiresGrad(true);
            Tensor st = states ? Tensor.of(s0, B, H, DK, DV).requiresGrad(true) : null;
            Lightning.Result r = Lightning.chunked(qt, kt, vt, slopes, SCALE, st, states, 64, null);
            Tensor loss = r.output().mul(Tensor.of(wo, B, t, H, DV)).sum();
            if (states) {
                loss = loss.add(r.finalState().mul(Tensor.of(wf, B, H, DK, DV)).sum());
            }
            loss.backward();
            ref = new RankResult(
                    r.output().toDoubleArray(),
                    states ? r.finalState().toDoubleArray() : null,
                    qt.grad().toDoubleArray(),
                    kt.grad().toDoubleArray(),
                    vt.grad().toDoubleArray(),
                    states ? st.grad().toDoubleArray() : null);
        }

        SequenceLayout layout = SequenceLayout.even(t, ranks);
        List<RankResult> parts = LocalWorld.run(ranks, TIMEOUT, pg -> {
            try (Scope s = Scope.open()) {
                int r = pg.rank();
                Tensor qt = slice(Tensor.of(q, B, t, H, DK), r, perRank).requiresGrad(true);
                Tensor kt = slice(Tensor.of(k, B, t, H, DK), r, perRank).requiresGrad(true);
                Tensor vt = slice(Tensor.of(v, B, t, H, DV), r, perRank).requiresGrad(true);
                Tensor st = states && r == 0 ? Tensor.of(s0, B, H, DK, DV).requiresGrad(true) : null;
                var op = new SequenceParallelLightning(pg, algorithm, layout, BLOCK);
                Lightning.Result res = op.chunked(qt, kt, vt, slopes, SCALE, st, states);
                boolean last = r == ranks - 1;
                assertThat(res.finalState() != null).isEqualTo(states && last);
                Tensor loss = res.output()
                        .mul(slice(Tensor.of(wo, B, t, H, DV), r, perRank))
                        .sum();
                if (res.finalState() != null) {
                    loss = loss.add(
                            res.finalState().mul(Tensor.of(wf, B, H, DK, DV)).sum());
                }
                loss.backward();
                // communication: LASP-2 one all-gather of B·H·dk·dv each way; LASP one hop each way
                long state = (long) B * H * DK * DV;
                if (algorithm == SpAlgorithm.LASP2) {
                    assertThat(pg.stats().calls(CommOp.ALL_GATHER)).isEqualTo(2);
                    assertThat(pg.stats().elements(CommOp.ALL_GATHER)).isEqualTo(2 * state);
                    assertThat(pg.stats().callCounts()).containsOnlyKeys(CommOp.ALL_GATHER);
                } else {
                    long sends = (r < ranks - 1 ? 1 : 0) + (r > 0 ? 1 : 0);
                    assertThat(pg.stats().elements(CommOp.SEND)).isEqualTo(sends * state);
                    assertThat(pg.stats().elements(CommOp.RECV)).isEqualTo(sends * state);
                }
                return new RankResult(
                        perBatchRows(res.output().toDoubleArray()),
                        res.finalState() == null ? null : res.finalState().toDoubleArray(),
                        perBatchRows(qt.grad().toDoubleArray()),
                        perBatchRows(kt.grad().toDoubleArray()),
                        perBatchRows(vt.grad().toDoubleArray()),
                        st == null ? null : st.grad().toDoubleArray());
            }
        });
        double tol = 1e-5;
        assertThat(TestArrays.relErr(join(parts, RankResult::out, perRank, DV), ref.out()))
                .as("output")
                .isLessThan(tol);
        assertThat(TestArrays.relErr(join(parts, RankResult::dq, perRank, DK), ref.dq()))
                .as("dq")
                .isLessThan(tol);
        assertThat(TestArrays.relErr(join(parts, RankResult::dk, perRank, DK), ref.dk()))
                .as("dk")
                .isLessThan(tol);
        assertThat(TestArrays.relErr(join(parts, RankResult::dv, perRank, DV), ref.dv()))
                .as("dv")
                .isLessThan(tol);
        assertThat(TestArrays.maxRelErr(join(parts, RankResult::dk, perRank, DK), ref.dk()))
                .as("dk max")
                .isLessThan(tol);
        if (states) {
            assertThat(TestArrays.relErr(parts.get(ranks - 1).fin(), ref.fin()))
                    .as("final state")
                    .isLessThan(tol);
            assertThat(TestArrays.relErr(parts.get(0).ds0(), ref.ds0()))
                    .as("initial-state gradient")
                    .isLessThan(tol);
        }
    }

    @Test
    void f64MatchesTheSingleRankOpClosely() {
        int ranks = 3, perRank = 11, t = ranks * perRank;
        Rng rng = new Rng(5);
        double[] q = rng.normal(DType.F64, 0, 1, 1, t, 2, 4).toDoubleArray();
        double[] k = rng.normal(DType.F64, 0, 1, 1, t, 2, 4).toDoubleArray();
        double[] v = rng.normal(DType.F64, 0, 1, 1, t, 2, 3).toDoubleArray();
        double[] slopes = {0.3, 0.01};
        double[] ref;
        try (Scope s = Scope.open()) {
            ref = Lightning.chunked(
                            Tensor.of(q, 1, t, 2, 4),
                            Tensor.of(k, 1, t, 2, 4),
                            Tensor.of(v, 1, t, 2, 3),
                            slopes,
                            1,
                            null,
                            false,
                            8,
                            null)
                    .output()
                    .toDoubleArray();
        }
        for (SpAlgorithm a : SpAlgorithm.values()) {
            List<double[]> parts = LocalWorld.run(ranks, TIMEOUT, pg -> {
                try (Scope s = Scope.open()) {
                    int r = pg.rank();
                    var op = new SequenceParallelLightning(pg, a, SequenceLayout.even(t, ranks), 4);
                    return op.apply(
                                    slice(Tensor.of(q, 1, t, 2, 4), r, perRank),
                                    slice(Tensor.of(k, 1, t, 2, 4), r, perRank),
                                    slice(Tensor.of(v, 1, t, 2, 3), r, perRank),
                                    slopes,
                                    1)
                            .toDoubleArray();
                }
            });
            assertThat(TestArrays.relErr(TestArrays.concat(parts), ref)).isLessThan(1e-13);
        }
    }

    @Test
    void wrongSliceLengthAndStrayInitialStateAreNamed() {
        assertThatThrownBy(() -> LocalWorld.run(2, TIMEOUT, pg -> {
                    try (Scope s = Scope.open()) {
                        var op = new SequenceParallelLightning(pg, SpAlgorithm.LASP2, SequenceLayout.even(20, 2));
                        Tensor x = Tensor.zeros(DType.F32, 1, pg.rank() == 0 ? 10 : 9, 1, 4);
                        return op.apply(x, x, x, new double[] {0.1}, 1);
                    }
                }))
                .isInstanceOf(DistException.class)
                .hasStackTraceContaining(
                        "this rank holds 9 positions but the sequence layout SequenceLayout[10, 10] gives it 10");
        assertThatThrownBy(() -> LocalWorld.run(2, TIMEOUT, pg -> {
                    try (Scope s = Scope.open()) {
                        var op = new SequenceParallelLightning(pg, SpAlgorithm.LASP, SequenceLayout.even(8, 2));
                        Tensor x = Tensor.zeros(DType.F32, 1, 4, 1, 4);
                        return op.chunked(x, x, x, new double[] {0.1}, 1, Tensor.zeros(DType.F32, 1, 1, 4, 4), false);
                    }
                }))
                .hasStackTraceContaining(
                        "the initial state belongs to the first rank of the sequence, got one on rank 1");
        assertThatThrownBy(() -> SequenceLayout.even(37, 4))
                .hasMessageContaining("a sequence of 37 tokens does not split evenly over 4 ranks");
        assertThatThrownBy(() -> LocalWorld.run(
                        3,
                        TIMEOUT,
                        pg -> new SequenceParallelLightning(pg, SpAlgorithm.LASP2, SequenceLayout.even(8, 2))))
                .hasStackTraceContaining("the layout SequenceLayout[4, 4] is for 2 ranks but group 'world' has 3");
    }

    /** Rank r's slice [B, perRank, ...] of a [B, T, ...] tensor, contiguous. */
    static Tensor slice(Tensor x, int rank, int perRank) {
        return x.narrow(1, rank * perRank, perRank).contiguous();
    }

    /** Identity (kept for readability: per-rank arrays are [B, perRank, H, D], joined back per batch row). */
    private static double[] perBatchRows(double[] a) {
        return a;
    }

    /** Joins per-rank [B, perRank, H, D] arrays into [B, T, H, D]. */
    static double[] join(
            List<RankResult> parts, java.util.function.Function<RankResult, double[]> f, int perRank, int d) {
        int ranks = parts.size();
        int row = perRank * H * d;
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
