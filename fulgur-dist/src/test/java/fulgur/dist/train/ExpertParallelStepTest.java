package fulgur.dist.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.Autograd;
import fulgur.dist.ParallelGrid;
import fulgur.dist.ReduceOp;
import fulgur.dist.TestArrays;
import fulgur.dist.ep.ExpertParallel;
import fulgur.dist.local.LocalWorld;
import fulgur.dist.sp.SequenceLayout;
import fulgur.dist.sp.SequenceParallel;
import fulgur.dist.sp.SpAlgorithm;
import fulgur.models.SequenceShard;
import fulgur.models.minimax.MiniMaxConfig;
import fulgur.models.minimax.MiniMaxModel;
import fulgur.nn.Parameter;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A MiniMax-style model's training step (cross-entropy plus a load-balancing loss with a large coefficient, 8 experts
 * top-2 in both layers) with its experts split over 2 or 4 ranks, also with more data-parallel replicas and with
 * sequence parallelism, against the step on one rank: the loss and every gradient, each expert's on the rank that
 * holds it. Targets are partly ignored, so the ranks' loss shares are not their token shares.
 */
class ExpertParallelStepTest {
    static final int VOCAB = 37, B = 4, T = 8;
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    static MiniMaxModel model() {
        String json = MiniMaxConfig.small(VOCAB, 16, 2, 2)
                .toJson()
                .replaceAll("\"num_local_experts\" : [0-9]+", "\"num_local_experts\" : 8")
                .replaceAll("\"router_aux_loss_coef\" : [0-9.eE-]+", "\"router_aux_loss_coef\" : 0.5");
        return new MiniMaxModel(MiniMaxConfig.parse(json), 5);
    }

    static int[][] batch() {
        Random rnd = new Random(77);
        int[] in = new int[B * T];
        int[] tg = new int[B * T];
        for (int i = 0; i < in.length; i++) {
            in[i] = rnd.nextInt(VOCAB);
            tg[i] = rnd.nextInt(4) == 0 ? -100 : rnd.nextInt(VOCAB);
        }
        return new int[][] {in, tg};
    }

    static Map<String, double[]> grads(Map<String, Parameter> params) {
        Map<String, double[]> g = new LinkedHashMap<>();
        params.forEach((n, p) -> {
            if (p.numel() > 0) {
                g.put(
                        n,
                        p.grad() == null
                                ? new double[(int) p.numel()]
                                : p.grad().toDoubleArray());
            }
        });
        return g;
    }

    static TrainConfig cfg() {
        return new TrainConfig(1, B, T, 1, 1e-3, 0, LrSchedule.Kind.CONSTANT, 0.1, 0.1, 0.9, 0.95, 1e-8, 0, 0, 0, 1);
    }

    @ParameterizedTest(name = "dp {0} × ep {1} × sp {2}")
    @CsvSource({"1, 2, 1", "1, 4, 1", "2, 2, 1", "1, 2, 2"})
    void splitExpertsReproduceTheSingleRankStep(int dp, int ep, int sp) {
        int[][] data = batch();
        double wantLoss;
        Map<String, double[]> want;
        try (MiniMaxModel m = model();
                Scope s = Scope.open()) {
            Tensor loss = m.loss(Tensor.ofInts(data[0], B, T), Tensor.ofInts(data[1], B * T));
            loss.backward();
            wantLoss = loss.item();
            want = grads(m.namedParameters());
        }
        int replicas = dp * ep;
        List<Object[]> got = LocalWorld.run(replicas * sp, TIMEOUT, pg -> {
            try (MiniMaxModel m = model();
                    Scope s = Scope.open()) {
                ParallelGrid grid = ParallelGrid.of(pg, replicas, sp);
                ExpertParallel experts = ExpertParallel.install(m, grid, ep, false);
                SynchronousUpdate update = new SynchronousUpdate(pg, m, cfg(), 500, null, experts);
                int rows = B / replicas;
                SequenceLayout layout = SequenceLayout.even(T, sp);
                Tensor in = SequenceParallel.slice(
                        Tensor.ofInts(data[0], B, T).narrow(0, grid.dpRank() * rows, rows), layout, grid.spRank());
                Tensor tg = SequenceParallel.slice(
                        Tensor.ofInts(data[1], B, T).narrow(0, grid.dpRank() * rows, rows), layout, grid.spRank());
                SequenceShard shard = sp == 1
                        ? SequenceShard.WHOLE
                        : SequenceParallel.shard(grid.sequenceParallel(), SpAlgorithm.LASP2, layout, 4);
                long local = SequenceParallel.countTargets(tg.toIntArray());
                long total = SequenceParallel.countTargets(data[1]);
                experts.lossShare().set((double) local / total);
                Tensor loss = SequenceParallel.weightedLoss(m.loss(in, tg.reshape(-1), shard), local, total);
                update.zeroGrad();
                update.backward(loss, true, Autograd.Free.GRADIENTS);
                Tensor l = Tensor.of(new double[] {loss.item()}, 1);
                pg.allReduce(l, ReduceOp.SUM).await();
                Map<String, double[]> g = grads(m.namedParameters());
                update.close();
                return new Object[] {l.item(), g};
            }
        });
        int held = 0;
        for (Object[] o : got) {
            assertThat((double) o[0]).isCloseTo(wantLoss, org.assertj.core.data.Offset.offset(2e-6 * wantLoss));
            @SuppressWarnings("unchecked")
            Map<String, double[]> g = (Map<String, double[]>) o[1];
            for (Map.Entry<String, double[]> e : g.entrySet()) {
                assertThat(TestArrays.maxRelErr(e.getValue(), want.get(e.getKey())))
                        .as(e.getKey())
                        .isLessThan(2e-5);
                held += e.getKey().contains(".experts.") ? 1 : 0;
            }
        }
        // every rank holds only its share of the 2 layers × 8 experts × 3 weights
        assertThat(held).isEqualTo(replicas * sp * 48 / ep);
    }

    @org.junit.jupiter.api.Test
    void expertsThatDoNotSplitOverTheRanksAreRefused() {
        assertThatThrownBy(() -> LocalWorld.run(3, TIMEOUT, pg -> {
                    try (MiniMaxModel m = model()) {
                        return ExpertParallel.install(m, ParallelGrid.of(pg, 3, 1), 3, false);
                    }
                }))
                .hasStackTraceContaining(
                        "--ep 3: 8 experts per layer do not split evenly over 3 ranks (choose an --ep that divides 8)");
    }
}
