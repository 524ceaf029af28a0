package fulgur.dist.co2;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.dist.TestArrays;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.local.Link;
import fulgur.dist.local.LocalWorld;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.nn.RMSNorm;
import fulgur.optim.AdamW;
import fulgur.optim.Optimizer;
import fulgur.optim.ParamGroup;
import fulgur.optim.Sgd;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * CO2's outer loop against a plain sequential statement of the algorithm (every rank simulated in turn on one thread,
 * the outer state in f64 arrays), and against synchronous data parallelism where the two coincide.
 */
class Co2Test {
    static final Duration T = Duration.ofSeconds(60);
    static final int STEPS = 8;

    /** Linear(4→6) → SiLU → RMSNorm → Linear(6→2): 5 parameters, 53 floats (no world size here divides it). */
    static final class Net extends Module {
        final Linear a;
        final RMSNorm n;
        final Linear b;

        Net() {
            Rng rng = new Rng(3);
            a = child("a", new Linear(4, 6, true, rng));
            n = child("n", new RMSNorm(6, 1e-5, true));
            b = child("b", new Linear(6, 2, true, rng));
        }

        Tensor loss(int rank, int step) {
            Random rnd = new Random(17L * rank + 1000L * step);
            float[] x = new float[3 * 4];
            float[] y = new float[3 * 2];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rnd.nextGaussian();
            }
            for (int i = 0; i < y.length; i++) {
                y[i] = (float) rnd.nextGaussian();
            }
            Tensor out = b.forward(n.forward(a.forward(Tensor.of(x, 3, 4)).silu()));
            return out.sub(Tensor.of(y, 3, 2)).pow(2).mean();
        }

        double[] flat() {
            List<double[]> parts = new ArrayList<>();
            for (Parameter p : parameters()) {
                parts.add(p.value().toDoubleArray());
            }
            return TestArrays.concat(parts);
        }

        void load(double[] flat) {
            int at = 0;
            for (Parameter p : parameters()) {
                float[] v = new float[(int) p.numel()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) flat[at++];
                }
                p.value().copyFrom(Tensor.of(v, p.shape()));
            }
        }
    }

    static Function<Net, Optimizer> adamw = n -> new AdamW(ParamGroup.decayAndNoDecay(n, 0.1), 0.02, 0.9, 0.95, 1e-8);
    static Function<Net, Optimizer> sgd = n -> new Sgd(ParamGroup.all(n, 0), 0.05, 0, false);

    static void innerStep(Net net, Optimizer opt, int rank, int step) {
        opt.zeroGrad();
        try (Scope s = Scope.open()) {
            net.loss(rank, step).backward();
        }
        opt.step();
    }

    /** Every rank's flat parameters after each step, with CO2 on {@code world} local ranks. */
    static List<List<double[]>> co2(int world, Co2Config cfg, Function<Net, Optimizer> inner) {
        return LocalWorld.run(world, T, pg -> {
            try (Net net = new Net()) {
                Optimizer opt = inner.apply(net);
                List<double[]> after = new ArrayList<>();
                try (Co2 co2 =
                        new Co2(net.parameters().stream().map(Parameter::value).toList(), pg, cfg, null)) {
                    for (int s = 0; s < STEPS; s++) {
                        innerStep(net, opt, pg.rank(), s);
                        co2.afterInnerStep();
                        after.add(net.flat());
                    }
                }
                return after;
            }
        });
    }

    /** The algorithm as written in the paper, one rank after the other; the rounds' averages in f64. */
    static List<List<double[]>> sequential(int world, Co2Config cfg, Function<Net, Optimizer> inner) {
        List<Net> nets = new ArrayList<>();
        List<Optimizer> opts = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            nets.add(new Net());
            opts.add(inner.apply(nets.get(r)));
        }
        double[] u = nets.get(0).flat();
        double[] prev = u.clone();
        double[] m = new double[u.length];
        double[] pending = null;
        List<List<double[]>> after = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            after.add(new ArrayList<>());
        }
        int k = 0;
        int mid = cfg.staleness() == 0 ? cfg.tau() : (cfg.tau() + 1) / 2;
        for (int s = 0; s < STEPS; s++) {
            for (int r = 0; r < world; r++) {
                innerStep(nets.get(r), opts.get(r), r, s);
            }
            k++;
            if (cfg.staleness() == 1 && k == mid) {
                if (pending != null) {
                    double[] next = new double[u.length];
                    for (int i = 0; i < u.length; i++) {
                        m[i] = clip(cfg.momentum() * m[i] + (prev[i] - pending[i]) / cfg.penalty(), cfg.clip());
                        next[i] = u[i] - cfg.outerLr() * m[i];
                    }
                    prev = u;
                    u = next;
                    pending = null;
                } else {
                    prev = u.clone();
                }
            }
            if (k == cfg.tau()) {
                double[] avg = new double[u.length];
                for (Net n : nets) {
                    double[] f = n.flat();
                    for (int i = 0; i < avg.length; i++) {
                        avg[i] += f[i] / world;
                    }
                }
                if (cfg.staleness() == 0) {
                    for (int i = 0; i < u.length; i++) {
                        m[i] = clip(cfg.momentum() * m[i] + (u[i] - avg[i]) / cfg.penalty(), cfg.clip());
                        u[i] -= cfg.outerLr() * m[i];
                    }
                } else {
                    pending = avg;
                }
                for (Net n : nets) {
                    n.load(u);
                }
                k = 0;
            }
            for (int r = 0; r < world; r++) {
                after.get(r).add(nets.get(r).flat());
            }
        }
        nets.forEach(Net::close);
        return after;
    }

    static double clip(double v, double phi) {
        return phi > 0 ? Math.max(-phi, Math.min(phi, v)) : v;
    }

    static double maxErr(List<List<double[]>> got, List<List<double[]>> want) {
        double err = 0;
        for (int r = 0; r < want.size(); r++) {
            for (int s = 0; s < STEPS; s++) {
                err = Math.max(
                        err, TestArrays.maxRelErr(got.get(r).get(s), want.get(r).get(s)));
            }
        }
        return err;
    }

    @Test
    void withOneInnerStepUnitOuterLrAndNoMomentumTheSynchronousFormIsDataParallelism() {
        // SGD's update is linear in the gradient, so averaging the ranks' parameters after one step each is one step
        // on the averaged gradient; the same does not hold for AdamW, whose update is not linear
        Co2Config cfg = new Co2Config(1, 1, 0, 0, 1, 0);
        List<List<double[]>> got = co2(4, cfg, sgd);
        List<List<double[]>> dp = LocalWorld.run(4, T, pg -> {
            try (Net net = new Net();
                    GradientSync sync = new GradientSync(net.parameters(), pg, 1.0 / pg.size(), 16)) {
                Optimizer opt = sgd.apply(net);
                List<double[]> after = new ArrayList<>();
                for (int s = 0; s < STEPS; s++) {
                    opt.zeroGrad();
                    try (Scope sc = Scope.open()) {
                        sync.backward(net.loss(pg.rank(), s));
                    }
                    opt.step();
                    after.add(net.flat());
                }
                return after;
            }
        });
        assertThat(maxErr(got, dp)).isLessThan(1e-5);
        // and every rank holds the same parameters after every step
        for (int s = 0; s < STEPS; s++) {
            assertThat(got.get(3).get(s)).containsExactly(got.get(0).get(s));
        }
    }

    @Test
    void oneStepStaleOuterLoopFollowsTheAlgorithm() {
        // τ 3 over 8 steps: two full rounds and a partial one; AdamW inner steps; momentum, penalty and outer lr all on
        Co2Config cfg = new Co2Config(3, 0.7, 0.5, 0, 2, 1);
        assertThat(maxErr(co2(4, cfg, adamw), sequential(4, cfg, adamw))).isLessThan(1e-5);
        Co2Config one = new Co2Config(1, 1, 0, 0, 1, 1);
        assertThat(maxErr(co2(3, one, sgd), sequential(3, one, sgd))).isLessThan(1e-5);
    }

    @Test
    void closeWaitsForTheTransfersStillInFlight() {
        // τ 3 with a stale average: the round's average is reduced while the next round runs, so it is in flight when
        // a rank leaves the loop. Rank 1 joins it a second late; rank 0's close must wait for it rather than free the
        // buffers that the transfer, once run, reads and writes (the memory could by then hold another tensor).
        Co2Config cfg = new Co2Config(3, 0.7, 0.5, 0, 2, 1);
        List<Long> closeMillis = LocalWorld.run(2, T, pg -> {
            try (Net net = new Net()) {
                Optimizer opt = adamw.apply(net);
                Co2 co2 =
                        new Co2(net.parameters().stream().map(Parameter::value).toList(), pg, cfg, null);
                for (int s = 0; s < cfg.tau(); s++) {
                    innerStep(net, opt, pg.rank(), s);
                    if (pg.rank() == 1 && s == cfg.tau() - 1) {
                        try {
                            Thread.sleep(1000);
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                    co2.afterInnerStep();
                }
                assertThat(co2.pendingAverage()).isNotNull();
                long t0 = System.nanoTime();
                co2.close();
                return (System.nanoTime() - t0) / 1_000_000;
            }
        });
        assertThat(closeMillis.get(0)).isGreaterThanOrEqualTo(500);
    }

    @Test
    void synchronousOuterLoopFollowsTheAlgorithm() {
        Co2Config cfg = new Co2Config(2, 0.8, 0.6, 0, 1.5, 0);
        assertThat(maxErr(co2(3, cfg, adamw), sequential(3, cfg, adamw))).isLessThan(1e-5);
    }

    @Test
    void clippingChangesTheUpdateOnlyWhenTheThresholdBinds() {
        Co2Config free = new Co2Config(2, 1, 0.5, 0, 1, 1);
        Co2Config binding = new Co2Config(2, 1, 0.5, 1e-3, 1, 1);
        Co2Config loose = new Co2Config(2, 1, 0.5, 100, 1, 1);
        List<List<double[]>> unclipped = co2(2, free, adamw);
        List<List<double[]>> clipped = co2(2, binding, adamw);
        // the sequential oracle clamps m to [−φ, φ]; the implementation does the same (not a discarded clamp)
        assertThat(maxErr(clipped, sequential(2, binding, adamw))).isLessThan(1e-5);
        assertThat(TestArrays.maxRelErr(
                        clipped.get(0).get(STEPS - 1), unclipped.get(0).get(STEPS - 1)))
                .isGreaterThan(1e-3);
        List<List<double[]>> loose2 = co2(2, loose, adamw);
        for (int s = 0; s < STEPS; s++) {
            assertThat(loose2.get(1).get(s)).containsExactly(unclipped.get(1).get(s));
        }
    }

    @Test
    void theAverageOfARoundIsInFlightWhileTheNextRoundRuns() {
        // every transfer takes 300 ms on the simulated link, far longer than an inner step: the first inner step of
        // each later round starts while the previous round's average is still being reduced, and nobody waits for it
        // before the middle of the round
        Co2Config cfg = new Co2Config(4, 1, 0, 0, 1, 1);
        try (LocalWorld w = new LocalWorld(2, T, new Link(Duration.ofMillis(300), 0))) {
            List<List<Boolean>> inFlight = w.runAll(pg -> {
                try (Net net = new Net()) {
                    Optimizer opt = adamw.apply(net);
                    List<Boolean> seen = new ArrayList<>();
                    try (Co2 co2 = new Co2(
                            net.parameters().stream().map(Parameter::value).toList(), pg, cfg, null)) {
                        for (int s = 0; s < 12; s++) {
                            if (co2.stepInRound() == 0 && co2.round() > 0) {
                                seen.add(!co2.pendingAverage().isCompleted());
                            }
                            innerStep(net, opt, pg.rank(), s);
                            if (co2.stepInRound() == 0 && co2.round() > 0) {
                                seen.add(!co2.pendingAverage().isCompleted());
                            }
                            co2.afterInnerStep();
                        }
                    }
                    return seen;
                }
            });
            for (List<Boolean> seen : inFlight) {
                assertThat(seen).hasSize(4).containsOnly(true);
            }
        }
    }
}
