package fulgur.dist.ep;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.dist.ReduceOp;
import fulgur.dist.TestArrays;
import fulgur.dist.local.LocalWorld;
import fulgur.layers.MoeFeedForward;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One MoE layer with its 8 experts split over 2 or 4 ranks against the layer on one rank: outputs, the load-balancing
 * loss and every gradient. The inputs are positive and the router's rows for experts 6 and 7 negative, so those two
 * experts never get a token: with 4 ranks the last rank receives no rows at all, yet takes part in every exchange.
 */
class ShardedExpertsTest {
    static final Duration T = Duration.ofSeconds(60);
    static final int D = 6, F = 8, E = 8, TOKENS = 5;

    static MoeFeedForward layer() {
        MoeFeedForward moe = new MoeFeedForward(
                D,
                F,
                new MoeFeedForward.Routing(E, 2, MoeFeedForward.Gating.SOFTMAX, true, 0.5),
                new Rng(9),
                DType.F32);
        float[] g = moe.gate().weight().value().toFloatArray();
        Random rnd = new Random(4);
        for (int e = 0; e < E; e++) {
            for (int d = 0; d < D; d++) {
                g[e * D + d] = e >= 6 ? -1f : 0.2f + rnd.nextFloat();
            }
        }
        moe.gate().weight().value().copyFrom(Tensor.of(g, E, D));
        return moe;
    }

    /** Rank r's tokens [TOKENS, D] (positive) and the projection its outputs are summed against. */
    static Tensor[] data(int rank) {
        Random rnd = new Random(100 + rank);
        float[] x = new float[TOKENS * D];
        float[] p = new float[TOKENS * D];
        for (int i = 0; i < x.length; i++) {
            x[i] = 0.1f + rnd.nextFloat();
            p[i] = (float) rnd.nextGaussian();
        }
        return new Tensor[] {Tensor.of(x, TOKENS, D).requiresGrad(true), Tensor.of(p, TOKENS, D)};
    }

    static Map<String, double[]> grads(MoeFeedForward moe) {
        Map<String, double[]> out = new LinkedHashMap<>();
        moe.namedParameters()
                .forEach((n, p) -> out.put(
                        n,
                        p.grad() == null
                                ? new double[(int) p.numel()]
                                : p.grad().toDoubleArray()));
        return out;
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void splitExpertsGiveTheSingleRankLayer(int ranks) {
        // one rank, all tokens
        Map<String, double[]> want;
        double wantLoss;
        double[][] wantX = new double[ranks][];
        try (MoeFeedForward moe = layer();
                Scope s = Scope.open()) {
            Tensor[] xs = new Tensor[ranks];
            Tensor[] ps = new Tensor[ranks];
            for (int r = 0; r < ranks; r++) {
                Tensor[] d = data(r);
                xs[r] = d[0];
                ps[r] = d[1];
            }
            Tensor x = fulgur.ops.Views.concat(0, xs);
            Tensor loss =
                    moe.forward(x).mul(fulgur.ops.Views.concat(0, ps)).sum().add(moe.auxLoss());
            loss.backward();
            wantLoss = loss.item();
            want = grads(moe);
            for (int r = 0; r < ranks; r++) {
                wantX[r] = xs[r].grad().toDoubleArray();
            }
            assertThat(moe.tokensPerExpert()[6] + moe.tokensPerExpert()[7]).isZero();
        }
        List<Object[]> got = LocalWorld.run(ranks, T, pg -> {
            try (MoeFeedForward moe = layer();
                    Scope s = Scope.open()) {
                LossShare share = new LossShare();
                share.set(1.0 / ranks);
                ShardedExperts placement = new ShardedExperts(pg, pg, share, E);
                moe.placement(placement);
                Tensor[] d = data(pg.rank());
                Tensor loss =
                        moe.forward(d[0]).mul(d[1]).sum().add(moe.auxLoss().mul(1.0 / ranks));
                loss.backward();
                Map<String, double[]> g = grads(moe);
                // the router is replicated: its gradient is the sum over the ranks
                Tensor gate = Tensor.of(g.get("gate.weight"), E, D).to(DType.F64);
                pg.allReduce(gate, ReduceOp.SUM).await();
                g.put("gate.weight", gate.toDoubleArray());
                Tensor l = Tensor.of(new double[] {loss.item()}, 1);
                pg.allReduce(l, ReduceOp.SUM).await();
                return new Object[] {
                    l.item(), g, d[0].grad().toDoubleArray(), placement.firstExpert(), placement.localExperts()
                };
            }
        });
        for (int r = 0; r < ranks; r++) {
            Object[] o = got.get(r);
            assertThat((double) o[0])
                    .isCloseTo(wantLoss, org.assertj.core.data.Offset.offset(1e-5 * Math.abs(wantLoss)));
            assertThat(TestArrays.maxRelErr((double[]) o[2], wantX[r]))
                    .as("rank %d input gradient", r)
                    .isLessThan(1e-5);
            @SuppressWarnings("unchecked")
            Map<String, double[]> g = (Map<String, double[]>) o[1];
            assertThat(TestArrays.maxRelErr(g.get("gate.weight"), want.get("gate.weight")))
                    .as("router")
                    .isLessThan(1e-5);
            int first = (int) o[3], local = (int) o[4];
            for (int e = first; e < first + local; e++) {
                for (String w : List.of("w1", "w2", "w3")) {
                    String k = "experts." + e + "." + w + ".weight";
                    assertThat(TestArrays.maxRelErr(g.get(k), want.get(k)))
                            .as("rank %d %s", r, k)
                            .isLessThan(1e-5);
                }
            }
        }
    }

    @org.junit.jupiter.api.Test
    void expertsThatDoNotSplitAreNamed() {
        assertThatThrownBy(() -> LocalWorld.run(3, T, pg -> new ShardedExperts(pg, pg, new LossShare(), 4)))
                .hasStackTraceContaining("expert parallelism: 4 experts do not split evenly over --ep 3 ranks");
    }
}
