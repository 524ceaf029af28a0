package fulgur.dist.sp;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.dist.CommOp;
import fulgur.dist.ParallelGrid;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.TestArrays;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.local.LocalWorld;
import fulgur.models.SequenceShard;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Parameter;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A whole TNL training step (loss and every parameter gradient) under sequence parallelism, and under data ×
 * sequence parallelism, equals the single-rank step. LRPE in layer 0 checks the position offsets; ignored targets
 * check the loss weighting; a block of 16 with 13 or 37 tokens per rank checks partial blocks.
 */
class TnlStepEquivalenceTest {
    static final int VOCAB = 61;
    static final TnlConfig CONFIG = TnlConfig.small(VOCAB, 32, 2, 2).withLrpe(List.of(1, 0));
    static final long SEED = 7;
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    record Step(double loss, Map<String, double[]> grads) {}

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (SpAlgorithm a : SpAlgorithm.values()) {
            for (int w : new int[] {1, 2, 3, 4, 8}) {
                out.add(Arguments.of(a, w, 13));
            }
            out.add(Arguments.of(a, 3, 37));
        }
        return out.stream();
    }

    static int[][] batch(int b, int t, long seed) {
        Random rnd = new Random(seed);
        int[] in = new int[b * t];
        int[] tg = new int[b * t];
        for (int i = 0; i < in.length; i++) {
            in[i] = rnd.nextInt(VOCAB);
            tg[i] = rnd.nextInt(10) == 0 ? -100 : rnd.nextInt(VOCAB);
        }
        return new int[][] {in, tg};
    }

    static Step reference(int b, int t, int[][] data) {
        try (TnlModel model = new TnlModel(CONFIG, SEED);
                Scope s = Scope.open()) {
            Tensor loss = model.loss(Tensor.ofInts(data[0], b, t), Tensor.ofInts(data[1], b * t));
            loss.backward();
            return new Step(loss.item(), grads(model));
        }
    }

    static Map<String, double[]> grads(TnlModel model) {
        Map<String, double[]> g = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
            g.put(e.getKey(), e.getValue().grad().toDoubleArray());
        }
        return g;
    }

    /**
     * One rank's step on the dp × sp grid: rows of data replica {@code dpRank}, columns of sequence rank
     * {@code spRank}; the loss weighted by its share of the counted targets; gradients summed over the world.
     */
    static Step rankStep(
            ProcessGroup world, int dp, int sp, SpAlgorithm algorithm, int rowsPerReplica, int t, int[][] data) {
        try (TnlModel model = new TnlModel(CONFIG, SEED);
                Scope s = Scope.open()) {
            ParallelGrid grid = ParallelGrid.of(world, dp, sp);
            SequenceLayout layout = SequenceLayout.even(t, sp);
            int b = rowsPerReplica * dp;
            Tensor rows = Tensor.ofInts(data[0], b, t).narrow(0, grid.dpRank() * rowsPerReplica, rowsPerReplica);
            Tensor targetRows = Tensor.ofInts(data[1], b, t).narrow(0, grid.dpRank() * rowsPerReplica, rowsPerReplica);
            Tensor inputs = SequenceParallel.slice(rows, layout, grid.spRank());
            Tensor targets = SequenceParallel.slice(targetRows, layout, grid.spRank());
            SequenceShard shard = SequenceParallel.shard(grid.sequenceParallel(), algorithm, layout, 16);
            Tensor mean = model.loss(inputs, targets.reshape(-1), shard);
            Tensor loss = SequenceParallel.weightedLoss(
                    mean, SequenceParallel.countTargets(targets.toIntArray()), SequenceParallel.countTargets(data[1]));
            try (GradientSync sync = new GradientSync(model.parameters(), world, 1.0, 3000)) {
                assertThat(sync.bucketCount()).isGreaterThan(3);
                sync.backward(loss);
            }
            Tensor total = Tensor.of(new double[] {loss.item()}, 1);
            world.allReduce(total, ReduceOp.SUM).await();
            return new Step(total.item(), grads(model));
        }
    }

    @ParameterizedTest(name = "{0} on {1} ranks, {2} tokens per rank")
    @MethodSource("cases")
    void sequenceParallelStepEqualsSingleRank(SpAlgorithm algorithm, int ranks, int perRank) {
        int b = 2, t = ranks * perRank;
        int[][] data = batch(b, t, 100 + ranks);
        Step ref = reference(b, t, data);
        List<Step> steps = LocalWorld.run(ranks, TIMEOUT, pg -> rankStep(pg, 1, ranks, algorithm, b, t, data));
        assertSame(ref, steps);
    }

    @Test
    void dataTimesSequenceParallelStepEqualsSingleRank() {
        for (int[] grid : new int[][] {{2, 2}, {2, 3}}) {
            int dp = grid[0], sp = grid[1], rowsPerReplica = 1, t = sp * 13;
            int[][] data = batch(dp * rowsPerReplica, t, 7 + dp * 10 + sp);
            Step ref = reference(dp * rowsPerReplica, t, data);
            List<Step> steps = LocalWorld.run(
                    dp * sp, TIMEOUT, pg -> rankStep(pg, dp, sp, SpAlgorithm.LASP2, rowsPerReplica, t, data));
            assertSame(ref, steps);
        }
    }

    /** LASP-2 moves one all-gather of B·H·d·e per layer each way, whatever the sequence length. */
    @Test
    void lasp2CommunicationVolumeIsAnalyticalAndIndependentOfLength() {
        int ranks = 4, b = 2;
        int heads = CONFIG.heads(),
                d = 2 * CONFIG.headDim(),
                e = CONFIG.headDim(); // layer 0 has LRPE: keys twice as wide
        long stateLayer0 = (long) b * heads * d * e, stateLayer1 = (long) b * heads * CONFIG.headDim() * e;
        for (int perRank : new int[] {13, 37}) {
            int t = ranks * perRank;
            int[][] data = batch(b, t, perRank);
            List<long[]> stats = LocalWorld.run(ranks, TIMEOUT, pg -> {
                try (TnlModel model = new TnlModel(CONFIG, SEED);
                        Scope s = Scope.open()) {
                    SequenceLayout layout = SequenceLayout.even(t, ranks);
                    Tensor inputs = SequenceParallel.slice(Tensor.ofInts(data[0], b, t), layout, pg.rank());
                    Tensor targets = SequenceParallel.slice(Tensor.ofInts(data[1], b, t), layout, pg.rank());
                    model.loss(inputs, targets.reshape(-1), SequenceParallel.shard(pg, SpAlgorithm.LASP2, layout))
                            .backward();
                    return new long[] {
                        pg.stats().calls(CommOp.ALL_GATHER),
                        pg.stats().elements(CommOp.ALL_GATHER),
                        pg.stats().callCounts().size()
                    };
                }
            });
            for (long[] st : stats) {
                assertThat(st[0])
                        .as("all-gathers per step (2 layers × forward and backward)")
                        .isEqualTo(4);
                assertThat(st[1]).as("elements all-gathered per rank").isEqualTo(2 * (stateLayer0 + stateLayer1));
                assertThat(st[2]).as("no other kind of communication").isEqualTo(1);
            }
        }
    }

    static void assertSame(Step ref, List<Step> steps) {
        for (int r = 0; r < steps.size(); r++) {
            Step st = steps.get(r);
            assertThat(Math.abs(st.loss() - ref.loss()) / Math.abs(ref.loss()))
                    .as("loss on rank %d", r)
                    .isLessThan(1e-5);
            for (Map.Entry<String, double[]> e : ref.grads().entrySet()) {
                double[] g = st.grads().get(e.getKey());
                assertThat(TestArrays.relErr(g, e.getValue()))
                        .as("gradient of %s on rank %d", e.getKey(), r)
                        .isLessThan(1e-5);
            }
        }
    }
}
