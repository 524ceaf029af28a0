package fulgur.dist.train;

import fulgur.autograd.Autograd;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.ddp.GradientHook;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.ep.ExpertParallel;
import fulgur.models.CausalLM;
import fulgur.nn.Parameter;
import fulgur.optim.AdamW;
import fulgur.optim.GradClip;
import fulgur.optim.ParamGroup;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.Checkpoint;
import fulgur.train.MixedPrecision;
import fulgur.train.TrainConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleConsumer;

/**
 * Synchronous data parallelism: the gradients are summed over the world while the backward runs
 * ({@link GradientSync}) and every rank takes the same AdamW step. With experts split over ranks
 * ({@link ExpertParallel}) the experts' gradients are summed over the ranks holding them instead, each rank steps the
 * parameters it holds, the gradient norm adds the experts' squares over the expert-parallel group, and checkpoints
 * gather the experts to the leading rank. With a 16-bit compute dtype the optimizer runs on f32 masters
 * ({@link MixedPrecision}).
 */
final class SynchronousUpdate implements ParameterUpdate {
    private final ProcessGroup world;
    private final CausalLM model;
    private final ExpertParallel experts;
    private final MixedPrecision mp;
    private final AdamW opt;
    private final List<GradientSync> syncs = new ArrayList<>();
    private final List<Parameter> dense = new ArrayList<>();
    private final List<Parameter> localExperts = new ArrayList<>();

    SynchronousUpdate(
            ProcessGroup world,
            CausalLM model,
            TrainConfig cfg,
            long bucketElements,
            DType precision,
            ExpertParallel experts) {
        this.world = world;
        this.model = model;
        this.experts = experts;
        Map<String, Parameter> named = model.module().namedParameters();
        boolean split = experts != null && experts.isSharded();
        named.forEach((n, p) -> {
            if (!split || !experts.isExpert(p)) {
                dense.add(p);
            } else if (experts.holds(n, p)) {
                localExperts.add(p);
            }
        });
        syncs.add(new GradientSync(dense, world, 1.0, bucketElements));
        if (!localExperts.isEmpty()) {
            syncs.add(new GradientSync(localExperts, experts.expertDataGroup(), 1.0, bucketElements));
        }
        List<ParamGroup> groups = new ArrayList<>();
        for (ParamGroup g : ParamGroup.decayAndNoDecay(model.module(), cfg.weightDecay())) {
            Map<String, Parameter> held = new LinkedHashMap<>();
            g.params().forEach((n, p) -> {
                if (experts == null || experts.holds(n, p)) {
                    held.put(n, p);
                }
            });
            groups.add(new ParamGroup(held, g.weightDecay(), g.lrScale()));
        }
        this.mp = precision == null ? null : MixedPrecision.of(model.module(), precision);
        this.opt =
                new AdamW(mp == null ? groups : mp.masterGroups(groups), cfg.lr(), cfg.beta1(), cfg.beta2(), cfg.eps());
    }

    @Override
    public void zeroGrad() {
        if (mp != null) {
            mp.zeroGrad();
        }
        opt.zeroGrad();
    }

    @Override
    public void backward(Tensor loss, boolean lastMicroBatch, Autograd.Free free) {
        if (lastMicroBatch) {
            GradientHook.backward(loss, free, syncs);
        } else {
            Autograd.backward(loss, null, null, free);
        }
    }

    @Override
    public void backward(
            List<Tensor> roots, List<Tensor> seeds, boolean lastMicroBatch, Autograd.Free free, Tensor... keep) {
        if (lastMicroBatch) {
            GradientHook.backward(roots, seeds, free, syncs, keep);
        } else {
            Autograd.backward(roots, seeds, null, free, keep);
        }
    }

    @Override
    public double step(double lr, double gradClip, DoubleConsumer beforeUpdate) {
        if (mp != null) {
            mp.syncGrads();
        }
        List<Parameter> trained = opt.parameters();
        double norm;
        if (localExperts.isEmpty() && (experts == null || !experts.isSharded())) {
            norm = GradClip.globalNorm(trained);
        } else {
            // the replicated parameters' squares are the same on every rank; the experts' add up over the group
            List<Parameter> mine = new ArrayList<>();
            for (Parameter p : localExperts) {
                mine.add(mp == null ? p : mp.master(p));
            }
            List<Parameter> rest = new ArrayList<>(trained);
            rest.removeAll(mine);
            double d = GradClip.globalNorm(rest);
            double e = GradClip.globalNorm(mine);
            try (Scope s = Scope.open("expert norm")) {
                Tensor t = Tensor.of(new double[] {e * e}, 1);
                experts.group().allReduce(t, ReduceOp.SUM).await();
                norm = Math.sqrt(d * d + t.item());
            }
        }
        beforeUpdate.accept(norm);
        if (gradClip > 0 && Double.isFinite(norm) && norm > gradClip) {
            double scale = gradClip / (norm + 1e-6);
            try (var off = fulgur.autograd.GradMode.noGrad();
                    Scope s = Scope.open("clip")) {
                for (Parameter p : trained) {
                    Tensor g = p.grad();
                    if (g != null) {
                        g.copyFrom(g.mul(scale));
                    }
                }
            }
        }
        opt.setLr(lr);
        opt.step();
        if (mp != null) {
            mp.copyMastersToModel();
        }
        return norm;
    }

    @Override
    public void save(Path dir, String configJson, Map<String, Object> trainerState, List<Path> companions)
            throws IOException {
        Map<String, Tensor> weights =
                mp != null ? mp.masterStateDict() : model.module().stateDict();
        Map<String, Tensor> state = opt.state();
        Map<String, Tensor> remote = Map.of();
        if (experts != null && experts.isSharded()) {
            Map<String, Tensor> both = new LinkedHashMap<>(weights);
            both.putAll(state);
            remote = experts.gatherRemote(both::get, List.of("", ".exp_avg", ".exp_avg_sq"));
        }
        if (world.rank() != 0) {
            return;
        }
        Map<String, Tensor> allWeights = new LinkedHashMap<>();
        for (String n : weights.keySet()) {
            allWeights.put(n, remote.getOrDefault(n, weights.get(n)));
        }
        Map<String, Tensor> allState = new LinkedHashMap<>(state);
        remote.forEach((n, t) -> {
            if (n.endsWith(".exp_avg") || n.endsWith(".exp_avg_sq")) {
                allState.put(n, t);
            }
        });
        Checkpoint.save(
                dir,
                allWeights,
                configJson,
                new FixedState(allState, opt.stepCount()),
                trainerState,
                Map.of(),
                companions);
    }

    @Override
    public void load(Path dir, Map<String, Object> trainerState) throws IOException {
        Checkpoint.loadOptimizer(dir, opt, String.valueOf(trainerState.get("step")));
    }

    @Override
    public Map<String, Object> describe() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("update", "synchronous");
        d.put("ep", experts == null ? 1 : experts.size());
        return d;
    }

    @Override
    public void close() {
        syncs.forEach(GradientSync::close);
        opt.release();
        if (mp != null) {
            mp.close();
        }
    }
}
