package fulgur.dist.sp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.dist.ParallelGrid;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.local.LocalWorld;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.ChunkedStep;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Sequence parallelism with each rank's share walked in chunks (rounds of W·C tokens, the lightning states handed from
 * the last rank to the first between rounds): the loss and every gradient equal one pass over the whole sequence on one
 * rank, for LASP and LASP-2, rounds that divide the sequence or end short, and data × sequence parallelism.
 */
class ChunkedSequenceParallelTest {
    static final int VOCAB = 61;
    static final Duration TIMEOUT = Duration.ofSeconds(60);
    static final String TNL = fulgur.models.tnl.TnlConfig.small(VOCAB, 32, 2, 2)
            .withLrpe(List.of(1, 0))
            .toJson();
    static final String LINEAR_LLAMA = Architectures.byName("linear-llama").smallConfig(VOCAB, 32, 2, 2);

    record Step(double loss, Map<String, double[]> grads) {}

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (SpAlgorithm a : SpAlgorithm.values()) {
            out.add(Arguments.of("tnl", TNL, a, 2, 5, 24)); // rounds of 10: 10, 10, 4 (pieces of 5, 5, 2)
            out.add(Arguments.of("tnl", TNL, a, 3, 4, 36)); // rounds of 12, dividing the sequence
            out.add(Arguments.of("tnl", TNL, a, 1, 7, 20));
        }
        out.add(Arguments.of("linear-llama", LINEAR_LLAMA, SpAlgorithm.LASP2, 2, 3, 16));
        return out.stream();
    }

    @ParameterizedTest(name = "{0}, {2} on {3} ranks, chunks of {4}, {5} tokens")
    @MethodSource("cases")
    void chunkedSequenceParallelStepEqualsOnePassOnOneRank(
            String name, String config, SpAlgorithm algorithm, int ranks, int chunk, int t) {
        int b = 2;
        int[][] data = batch(b, t, 31 + t);
        Step ref = reference(config, b, t, data);
        List<Step> steps =
                LocalWorld.run(ranks, TIMEOUT, pg -> rankStep(pg, config, 1, ranks, algorithm, chunk, b, t, data));
        assertSame(ref, steps);
    }

    @Test
    void dataTimesChunkedSequenceParallelStepEqualsOnePassOnOneRank() {
        int dp = 2, sp = 2, rows = 1, t = 20;
        int[][] data = batch(dp * rows, t, 5);
        Step ref = reference(TNL, dp * rows, t, data);
        List<Step> steps =
                LocalWorld.run(dp * sp, TIMEOUT, pg -> rankStep(pg, TNL, dp, sp, SpAlgorithm.LASP2, 3, rows, t, data));
        assertSame(ref, steps);
    }

    @Test
    void aHybridWithSoftmaxLayersIsRefusedInOneLine() {
        String minimax = Architectures.byName("minimax").smallConfig(VOCAB, 16, 2, 2);
        int[][] data = batch(1, 16, 3);
        assertThatThrownBy(() -> LocalWorld.run(
                        2, TIMEOUT, pg -> rankStep(pg, minimax, 1, 2, SpAlgorithm.LASP2, 4, 1, 16, data)))
                .hasMessageContaining("does not carry keys and values from one chunk to the next");
    }

    @Test
    void eachRankHoldsItsPieceOfEveryRound() {
        Tensor x = Tensor.ofInts(java.util.stream.IntStream.range(0, 24).toArray(), 1, 24);
        // rounds of 2 × 5 = 10 tokens: [0, 10), [10, 20), then [20, 24) in pieces of 2
        assertThat(ChunkedSequenceParallel.slice(x, 5, 2, 0).toIntArray())
                .containsExactly(0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 20, 21);
        assertThat(ChunkedSequenceParallel.slice(x, 5, 2, 1).toIntArray())
                .containsExactly(5, 6, 7, 8, 9, 15, 16, 17, 18, 19, 22, 23);
        assertThatThrownBy(() -> ChunkedSequenceParallel.slice(x, 5, 5, 0))
                .hasMessageContaining("does not split evenly over 5 ranks");
    }

    static int[][] batch(int b, int t, long seed) {
        java.util.Random rnd = new java.util.Random(seed);
        int[] in = new int[b * t];
        int[] tg = new int[b * t];
        for (int i = 0; i < in.length; i++) {
            in[i] = rnd.nextInt(VOCAB);
            tg[i] = rnd.nextInt(10) == 0 ? -100 : rnd.nextInt(VOCAB);
        }
        return new int[][] {in, tg};
    }

    static Step reference(String config, int b, int t, int[][] data) {
        try (Scope s = Scope.open();
                LanguageModel model = Architectures.forConfig(config).build(config, 7)) {
            Tensor loss = model.loss(Tensor.ofInts(data[0], b, t), Tensor.ofInts(data[1], b * t));
            loss.backward();
            return new Step(loss.item(), grads(model));
        }
    }

    /** One rank: its rows (data replica) and its pieces of every round (sequence rank), gradients summed over the world. */
    static Step rankStep(
            ProcessGroup world,
            String config,
            int dp,
            int sp,
            SpAlgorithm algorithm,
            int chunk,
            int rowsPerReplica,
            int t,
            int[][] data) {
        try (Scope s = Scope.open();
                LanguageModel model = Architectures.forConfig(config).build(config, 7)) {
            ParallelGrid grid = ParallelGrid.of(world, dp, sp);
            int b = rowsPerReplica * dp;
            Tensor rows = Tensor.ofInts(data[0], b, t).narrow(0, grid.dpRank() * rowsPerReplica, rowsPerReplica);
            Tensor targetRows = Tensor.ofInts(data[1], b, t).narrow(0, grid.dpRank() * rowsPerReplica, rowsPerReplica);
            Tensor inputs = ChunkedSequenceParallel.slice(rows, chunk, sp, grid.spRank());
            Tensor targets = ChunkedSequenceParallel.slice(targetRows, chunk, sp, grid.spRank());
            Tensor counted = Tensor.of(DType.F64, new double[] {SequenceParallel.countTargets(data[1])}, 1);
            double loss;
            try (GradientSync sync = new GradientSync(model.module().parameters(), world, 1.0, 3000)) {
                ChunkedSequenceParallel link = new ChunkedSequenceParallel(
                        grid.sequenceParallel(),
                        algorithm,
                        chunk,
                        inputs.device(),
                        (roots, seeds, last, keep) -> sync.backward(
                                roots, seeds, last, fulgur.autograd.Autograd.Free.GRADIENTS_AND_ACTIVATIONS, keep));
                loss = new ChunkedStep(model, chunk, link)
                        .run(inputs, targets, Map.of(), 0, 1.0, false, counted)
                        .loss()
                        .item();
            }
            Tensor total = Tensor.of(new double[] {loss}, 1);
            world.allReduce(total, ReduceOp.SUM).await();
            return new Step(total.item(), grads(model));
        }
    }

    static Map<String, double[]> grads(LanguageModel model) {
        Map<String, double[]> g = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : model.module().namedParameters().entrySet()) {
            g.put(e.getKey(), e.getValue().value().grad().toDoubleArray());
        }
        return g;
    }

    static void assertSame(Step ref, List<Step> steps) {
        for (int r = 0; r < steps.size(); r++) {
            Step st = steps.get(r);
            assertThat(Math.abs(st.loss() - ref.loss()) / Math.abs(ref.loss()))
                    .as("loss on rank %d", r)
                    .isLessThan(1e-5);
            for (Map.Entry<String, double[]> e : ref.grads().entrySet()) {
                double[] g = st.grads().get(e.getKey());
                assertThat(fulgur.dist.TestArrays.relErr(g, e.getValue()))
                        .as("gradient of %s on rank %d", e.getKey(), r)
                        .isLessThan(1e-5);
            }
        }
    }
}
