package fulgur.dist.zero;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.Autograd;
import fulgur.dist.TestArrays;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.local.LocalWorld;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.optim.AdamW;
import fulgur.optim.GradClip;
import fulgur.optim.ParamGroup;
import fulgur.tensor.DType;
import fulgur.tensor.HostAllocator;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * ZeRO stages 1 and 2 against unsharded data parallelism (all-reduced gradients, one AdamW per rank) on a small network
 * whose parameter counts (35, 7, 7, 21, 3) divide by no world size tried, split into several buckets.
 */
class ShardedAdamWTest {
    static final Duration T = Duration.ofSeconds(60);

    /** Linear(5→7) → SiLU → RMSNorm(7) → Linear(7→3), squared error. */
    static final class Net extends Module {
        final Linear a;
        final RMSNorm n;
        final Linear b;

        Net(long seed) {
            Rng rng = new Rng(seed);
            a = child("a", new Linear(5, 7, true, rng));
            n = child("n", new RMSNorm(7, 1e-5, true));
            b = child("b", new Linear(7, 3, true, rng));
        }

        Tensor loss(Tensor x, Tensor y) {
            Tensor out = b.forward(n.forward(a.forward(x).silu()));
            return out.sub(y).pow(2).mean();
        }
    }

    /** Rank r's batch of step s: 4 rows. */
    static Tensor[] batch(int rank, int step) {
        Random rnd = new Random(31L * rank + 1000L * step);
        float[] x = new float[4 * 5];
        float[] y = new float[4 * 3];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < y.length; i++) {
            y[i] = (float) rnd.nextGaussian();
        }
        return new Tensor[] {Tensor.of(x, 4, 5), Tensor.of(y, 4, 3)};
    }

    static List<ParamGroup> groups(Net net) {
        return ParamGroup.decayAndNoDecay(net, 0.1);
    }

    static Map<String, double[]> values(Module m) {
        Map<String, double[]> out = new LinkedHashMap<>();
        m.namedParameters().forEach((k, p) -> out.put(k, p.value().to(DType.F32).toDoubleArray()));
        return out;
    }

    /** Three steps of 2 micro-batches each, unsharded (stage 0) or sharded; every rank's parameters after each step. */
    static List<List<Map<String, double[]>>> train(int world, int stage, double clip) {
        return LocalWorld.run(world, T, pg -> {
            try (Net net = new Net(5)) {
                AdamW plain = stage == 0 ? new AdamW(groups(net), 0.05, 0.9, 0.95, 1e-8) : null;
                ShardedAdamW zero = stage == 0
                        ? null
                        : new ShardedAdamW(groups(net), pg, ShardedAdamW.Stage.of(stage), 20, 0.9, 0.95, 1e-8, null);
                GradientSync sync = new GradientSync(net.parameters(), pg, 1.0, 20);
                List<Map<String, double[]>> after = new java.util.ArrayList<>();
                for (int step = 0; step < 3; step++) {
                    if (zero != null) {
                        zero.zeroGrad();
                    } else {
                        plain.zeroGrad();
                    }
                    for (int micro = 0; micro < 2; micro++) {
                        try (Scope s = Scope.open()) {
                            Tensor[] xy = batch(pg.rank(), 2 * step + micro);
                            Tensor loss = net.loss(xy[0], xy[1]).mul(1.0 / (2 * pg.size()));
                            if (zero != null) {
                                zero.backward(loss, micro == 1, Autograd.Free.GRADIENTS);
                            } else {
                                sync.backward(loss, micro == 1);
                            }
                        }
                    }
                    if (zero != null) {
                        zero.step(0.05, clip);
                    } else {
                        if (clip > 0) {
                            GradClip.clipGlobalNorm(plain.parameters(), clip);
                        }
                        plain.step();
                    }
                    after.add(values(net));
                }
                sync.close();
                if (zero != null) {
                    zero.close();
                } else {
                    plain.release();
                }
                return after;
            }
        });
    }

    @ParameterizedTest
    @CsvSource({"2, 1", "3, 2", "4, 1", "4, 2", "8, 2"})
    void shardedStepsEqualUnshardedDataParallelism(int world, int stage) {
        List<List<Map<String, double[]>>> ref = train(world, 0, 0.5);
        List<List<Map<String, double[]>>> got = train(world, stage, 0.5);
        for (int r = 0; r < world; r++) {
            for (int s = 0; s < 3; s++) {
                Map<String, double[]> want = ref.get(0).get(s);
                for (String k : want.keySet()) {
                    assertThat(TestArrays.maxRelErr(got.get(r).get(s).get(k), want.get(k)))
                            .as("rank %d step %d %s", r, s, k)
                            .isLessThan(2e-6);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void clippingActsOnTheWholeGradient(int stage) {
        // a threshold far below the gradient norm changes the steps; the sharded run still matches the unsharded one
        List<List<Map<String, double[]>>> ref = train(3, 0, 1e-3);
        List<List<Map<String, double[]>>> got = train(3, stage, 1e-3);
        List<List<Map<String, double[]>>> unclipped = train(3, stage, 0);
        double diff = TestArrays.maxRelErr(
                got.get(0).get(2).get("a.weight"), unclipped.get(0).get(2).get("a.weight"));
        assertThat(diff).isGreaterThan(1e-3);
        assertThat(TestArrays.maxRelErr(
                        got.get(1).get(2).get("a.weight"), ref.get(0).get(2).get("a.weight")))
                .isLessThan(2e-6);
    }

    /** A model whose three parameters hold 3 × 100 003 floats, in one bucket. */
    static final class Big extends Module {
        Big() {
            for (int i = 0; i < 3; i++) {
                child("l" + i, new Linear(Tensor.zeros(DType.F32, 1, 100_003), null));
            }
        }
    }

    @org.junit.jupiter.api.Test
    void optimizerMemoryPerRankShrinksWithTheGroup() {
        // measured from the allocator around each rank's construction, one rank at a time
        Map<Integer, Long> bytes = new java.util.concurrent.ConcurrentHashMap<>();
        for (int world : new int[] {1, 2, 4}) {
            LocalWorld.run(world, T, pg -> {
                try (Big big = new Big()) {
                    long most = 0;
                    ShardedAdamW mine = null;
                    for (int r = 0; r < pg.size(); r++) {
                        pg.barrier().await();
                        if (r == pg.rank()) {
                            long before = HostAllocator.bytesInUse();
                            mine = new ShardedAdamW(
                                    ParamGroup.all(big, 0),
                                    pg,
                                    ShardedAdamW.Stage.GRADIENTS,
                                    1 << 22,
                                    0.9,
                                    0.95,
                                    1e-8,
                                    null);
                            most = HostAllocator.bytesInUse() - before;
                        }
                        pg.barrier().await();
                    }
                    bytes.merge(pg.size(), most, Math::max);
                    mine.close();
                    return null;
                }
            });
        }
        long full = 4L * 4 * 300_009; // master, two moments and gradient
        for (int n : new int[] {1, 2, 4}) {
            // the allocator rounds blocks above 1 MiB up to an eighth of their power of two
            assertThat(bytes.get(n)).as("%d ranks", n).isBetween(full / n, full / n * 9 / 8 + (64 << 10));
        }
    }

    @org.junit.jupiter.api.Test
    void gatheredStateIsTheUnshardedState() {
        // after a step, the gathered masters and moments equal those of AdamW on the all-reduced gradient, and
        // loading them into another sharding continues identically
        List<Map<String, double[]>> res = LocalWorld.run(3, T, pg -> {
            try (Net net = new Net(5);
                    Net ref = new Net(5);
                    Scope s = Scope.open()) {
                ShardedAdamW zero = new ShardedAdamW(
                        groups(net), pg, ShardedAdamW.Stage.OPTIMIZER_STATES, 20, 0.9, 0.95, 1e-8, null);
                AdamW plain = new AdamW(groups(ref), 0.05, 0.9, 0.95, 1e-8);
                Tensor[] xy = batch(pg.rank(), 0);
                zero.zeroGrad();
                zero.backward(net.loss(xy[0], xy[1]).mul(1.0 / 3), true, Autograd.Free.GRADIENTS);
                zero.step(0.05, 0);
                try (GradientSync sync = new GradientSync(ref.parameters(), pg, 1.0, 1000)) {
                    sync.backward(ref.loss(xy[0], xy[1]).mul(1.0 / 3));
                }
                plain.step();
                Map<String, double[]> out = new LinkedHashMap<>();
                Map<String, Tensor> state = zero.gatherState();
                Map<String, Tensor> want = plain.state();
                double err = 0;
                for (String k : want.keySet()) {
                    err = Math.max(
                            err,
                            TestArrays.maxRelErr(
                                    state.get(k).toDoubleArray(), want.get(k).toDoubleArray()));
                }
                out.put("state", new double[] {err, state.size(), want.size()});
                Map<String, Tensor> masters = zero.gatherMasters();
                out.put("masters", new double[] {
                    TestArrays.maxRelErr(
                            masters.get("b.weight").toDoubleArray(),
                            ref.b.weight().value().toDoubleArray())
                });
                ShardedAdamW other =
                        new ShardedAdamW(groups(ref), pg, ShardedAdamW.Stage.GRADIENTS, 7, 0.9, 0.95, 1e-8, null);
                other.loadState(want, plain.stepCount());
                Map<String, Tensor> back = other.gatherState();
                double err2 = 0;
                for (String k : want.keySet()) {
                    err2 = Math.max(
                            err2,
                            TestArrays.maxRelErr(
                                    back.get(k).toDoubleArray(), want.get(k).toDoubleArray()));
                }
                out.put("reloaded", new double[] {err2, other.stepCount()});
                zero.close();
                other.close();
                plain.release();
                return out;
            }
        });
        for (Map<String, double[]> r : res) {
            assertThat(r.get("state")[0]).isLessThan(2e-6);
            assertThat(r.get("state")[1]).isEqualTo(r.get("state")[2]).isEqualTo(10);
            assertThat(r.get("masters")[0]).isLessThan(2e-6);
            assertThat(r.get("reloaded")).containsExactly(0, 1);
        }
    }
}
