package fulgur.perf;

import fulgur.data.Batch;
import fulgur.data.Mqar;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.optim.AdamW;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;

/** Times training steps of a small TNL (not a test): java ... fulgur.perf.StepTiming [dim layers heads batch seq steps]. */
public final class StepTiming {
    public static void main(String[] args) {
        int dim = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        int layers = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        int heads = args.length > 2 ? Integer.parseInt(args[2]) : 4;
        int batch = args.length > 3 ? Integer.parseInt(args[3]) : 32;
        int seq = args.length > 4 ? Integer.parseInt(args[4]) : 64;
        int steps = args.length > 5 ? Integer.parseInt(args[5]) : 40;
        Mqar task = new Mqar(Mqar.Config.of(64, seq, 8));
        try (TnlModel m = new TnlModel(TnlConfig.small(64, dim, layers, heads), 1)) {
            AdamW opt = new AdamW(ParamGroup.all(m, 0.1), 1e-3);
            for (int round = 0; round < 3; round++) {
                long t0 = System.nanoTime();
                for (int s = 0; s < steps; s++) {
                    try (Scope sc = Scope.open()) {
                        Batch b = task.batch(1, s, batch);
                        opt.zeroGrad();
                        Tensor loss =
                                m.loss(Tensor.ofInts(b.inputs(), batch, seq), Tensor.ofInts(b.targets(), batch * seq));
                        loss.backward();
                        opt.step();
                    }
                }
                double secs = (System.nanoTime() - t0) / 1e9;
                System.out.printf(
                        "round %d: %.1f ms/step, %.0f tokens/s%n",
                        round, 1000 * secs / steps, (double) steps * batch * seq / secs);
            }
        }
    }
}
