package fulgur.dist.train;

import fulgur.autograd.Autograd;
import fulgur.dist.ParallelGrid;
import fulgur.dist.ProcessGroup;
import fulgur.dist.co2.Co2;
import fulgur.dist.co2.Co2Config;
import fulgur.dist.ddp.GradientHook;
import fulgur.dist.ddp.GradientSync;
import fulgur.io.safetensors.TensorIo;
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
import java.util.function.Supplier;

/**
 * CO2 over the data-parallel replicas ({@link Co2}): each replica runs AdamW on its own rows (its sequence ranks sum
 * their gradients as usual), and the outer loop averages the replicas' parameters every τ steps behind the next
 * round's computation. The outer loop talks over its own copy of the data-parallel group, so its long transfers do
 * not hold up the world's small ones.
 *
 * <p>A checkpoint's weights are the model the replicas agree on (every finished round consumed), which is what
 * evaluation uses too; {@value #FILE} holds the rest of an exact resume: the outer state and each replica's own
 * parameters and AdamW moments, gathered to the leading rank. Its optimizer file holds the first replica's moments.
 * Such a checkpoint resumes only as CO2 with the same number of replicas.
 */
final class Co2Update implements ParameterUpdate {
    static final String FILE = "co2.safetensors";

    private final ParallelGrid grid;
    private final CausalLM model;
    private final Co2Config config;
    private final MixedPrecision mp;
    private final AdamW opt;
    private final List<String> names = new ArrayList<>();
    private final GradientSync sequenceSync;
    private final ProcessGroup outerGroup;
    private final Co2 co2;

    Co2Update(
            ParallelGrid grid,
            CausalLM model,
            TrainConfig cfg,
            long bucketElements,
            DType precision,
            Co2Config config) {
        this.grid = grid;
        this.model = model;
        this.config = config;
        List<ParamGroup> groups = ParamGroup.decayAndNoDecay(model.module(), cfg.weightDecay());
        groups.forEach(g -> names.addAll(g.params().keySet()));
        this.sequenceSync = grid.sp() > 1
                ? new GradientSync(model.module().parameters(), grid.sequenceParallel(), 1.0, bucketElements)
                : null;
        this.mp = precision == null ? null : MixedPrecision.of(model.module(), precision);
        this.opt =
                new AdamW(mp == null ? groups : mp.masterGroups(groups), cfg.lr(), cfg.beta1(), cfg.beta2(), cfg.eps());
        this.outerGroup = grid.dataParallel().split(0, grid.dpRank());
        this.co2 = new Co2(
                opt.parameters().stream().map(Parameter::value).toList(),
                outerGroup,
                config,
                mp == null ? null : mp::copyMastersToModel);
    }

    /** One clear line when a checkpoint cannot continue as CO2 over {@code dp} replicas (or as anything else when it is CO2's). */
    static void checkResumable(Map<String, Object> trainerState, boolean co2, int dp) {
        Object state = trainerState.get("co2");
        if (co2 && state == null) {
            throw new IllegalArgumentException(
                    "the checkpoint was not written by CO2 training (it has no outer state or per-replica optimizers);"
                            + " resume it without --dp-algo co2");
        }
        if (!co2 && state != null) {
            throw new IllegalArgumentException(
                    "the checkpoint was written by CO2 training with its own outer state and per-replica optimizers;"
                            + " resume it with --dp-algo co2 --dp " + ((Map<?, ?>) state).get("dp"));
        }
        if (co2 && ((Number) ((Map<?, ?>) state).get("dp")).intValue() != dp) {
            throw new IllegalArgumentException(
                    "the checkpoint was written by CO2 training over " + ((Map<?, ?>) state).get("dp")
                            + " data-parallel replicas (one optimizer each); resume it with the same --dp, not " + dp);
        }
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
        if (sequenceSync != null && lastMicroBatch) {
            GradientHook.backward(loss, free, List.of(sequenceSync));
        } else {
            Autograd.backward(loss, null, null, free);
        }
    }

    @Override
    public void backward(
            List<Tensor> roots, List<Tensor> seeds, boolean lastMicroBatch, Autograd.Free free, Tensor... keep) {
        if (sequenceSync != null && lastMicroBatch) {
            GradientHook.backward(roots, seeds, free, List.of(sequenceSync), keep);
        } else {
            Autograd.backward(roots, seeds, null, free, keep);
        }
    }

    @Override
    public double step(double lr, double gradClip, DoubleConsumer beforeUpdate) {
        if (mp != null) {
            mp.syncGrads();
        }
        // each replica has its own gradient: the check gets their root mean square, non-finite when any replica's is
        double norm = GradClip.globalNorm(opt.parameters());
        beforeUpdate.accept(Math.sqrt(meanOverReplicas(norm * norm)));
        if (gradClip > 0 && norm > gradClip) {
            double scale = gradClip / (norm + 1e-6);
            try (var off = fulgur.autograd.GradMode.noGrad();
                    Scope s = Scope.open("clip")) {
                for (Parameter p : opt.parameters()) {
                    if (p.grad() != null) {
                        p.grad().copyFrom(p.grad().mul(scale));
                    }
                }
            }
        }
        opt.setLr(lr);
        opt.step();
        if (mp != null) {
            mp.copyMastersToModel();
        }
        co2.afterInnerStep();
        return norm;
    }

    /** The mean of {@code v} over the replicas (collective over the world; a replica's sequence ranks hold the same value). */
    private double meanOverReplicas(double v) {
        try (Scope s = Scope.open("co2 norm")) {
            Tensor t = Tensor.of(DType.F64, new double[] {v}, 1);
            grid.world().allReduce(t, fulgur.dist.ReduceOp.SUM).await();
            return t.item() / grid.world().size();
        }
    }

    @Override
    public boolean localUpdates() {
        return true;
    }

    /** The replicas' agreed model in the model's parameters while {@code body} runs on the leading rank. */
    @Override
    public <T> T evaluate(Supplier<T> body) {
        try (Scope s = Scope.open("co2 evaluation");
                var off = fulgur.autograd.GradMode.noGrad()) {
            List<Tensor> agreed = co2.unflatten(co2.consensus());
            if (grid.world().rank() != 0) {
                return body.get();
            }
            List<Tensor> own = new ArrayList<>();
            Map<String, Parameter> byName = model.module().namedParameters();
            for (int i = 0; i < names.size(); i++) {
                Parameter p = byName.get(names.get(i));
                own.add(p.value().copy());
                p.value().copyFrom(agreed.get(i));
            }
            try {
                return body.get();
            } finally {
                for (int i = 0; i < names.size(); i++) {
                    byName.get(names.get(i)).value().copyFrom(own.get(i));
                }
            }
        }
    }

    @Override
    public void save(Path dir, String configJson, Map<String, Object> trainerState, List<Path> companions)
            throws IOException {
        try (Scope s = Scope.open("co2 checkpoint")) {
            List<Tensor> agreed = co2.unflatten(co2.consensus());
            Co2.Snapshot snap = co2.snapshot();
            Map<String, Tensor> replicas = grid.spRank() == 0 ? gatherReplicas() : Map.of();
            if (grid.world().rank() != 0) {
                return;
            }
            Map<String, Tensor> weights = new LinkedHashMap<>();
            Map<String, Tensor> extra = new LinkedHashMap<>(replicas);
            List<Tensor> outer = co2.unflatten(snap.outer());
            List<Tensor> previous = co2.unflatten(snap.previous());
            List<Tensor> momentum = co2.unflatten(snap.momentum());
            List<Tensor> average = snap.average() == null ? null : co2.unflatten(snap.average());
            for (int i = 0; i < names.size(); i++) {
                String n = names.get(i);
                weights.put(n, agreed.get(i));
                extra.put("outer." + n, outer.get(i));
                extra.put("outer_previous." + n, previous.get(i));
                extra.put("outer_momentum." + n, momentum.get(i));
                if (average != null) {
                    extra.put("outer_average." + n, average.get(i));
                }
            }
            Map<String, Object> st = new LinkedHashMap<>();
            st.put("dp", grid.dp());
            st.put("step_in_round", snap.stepInRound());
            st.put("round", snap.round());
            st.put("outer_pending", snap.outerPending());
            st.put("average_pending", average != null);
            trainerState.put("co2", st);
            Checkpoint.save(
                    dir,
                    weights,
                    configJson,
                    new FixedState(opt.state(), opt.stepCount()),
                    trainerState,
                    Map.of(FILE, extra),
                    companions);
        }
    }

    /** Point-to-point over the data-parallel group: each replica's parameters and moments, on its rank 0 ("replicaD.NAME"). */
    private Map<String, Tensor> gatherReplicas() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        Map<String, Tensor> state = opt.state();
        List<Parameter> params = opt.parameters();
        ProcessGroup g = outerGroup;
        for (int d = 0; d < g.size(); d++) {
            if (g.rank() != 0 && g.rank() != d) {
                continue;
            }
            for (int i = 0; i < names.size(); i++) {
                String n = names.get(i);
                Tensor value = params.get(i).value();
                for (String suffix : new String[] {"", ".exp_avg", ".exp_avg_sq"}) {
                    Tensor mine = suffix.isEmpty() ? value : state.get(n + suffix);
                    String key = "replica" + d + "." + n + suffix;
                    if (d == 0) {
                        if (g.rank() == 0 && mine != null) {
                            out.put(key, mine);
                        }
                    } else if (g.rank() == d) {
                        g.send(Tensor.ofInts(new int[] {mine == null ? 0 : 1}, 1), 0)
                                .await();
                        if (mine != null) {
                            g.send(mine.contiguous(), 0).await();
                        }
                    } else {
                        Tensor flag = Tensor.zeros(DType.I32, 1);
                        g.recv(flag, d).await();
                        if (flag.toIntArray()[0] == 1) {
                            Tensor t = Tensor.empty(DType.F32, value.shape());
                            g.recv(t, d).await();
                            out.put(key, t);
                        }
                    }
                }
            }
        }
        return out;
    }

    @Override
    public void load(Path dir, Map<String, Object> trainerState) throws IOException {
        checkResumable(trainerState, true, grid.dp());
        Map<?, ?> st = (Map<?, ?>) trainerState.get("co2");
        Path d = Checkpoint.resolve(dir);
        TensorIo.Loaded file = TensorIo.load(d.resolve(FILE));
        Map<String, Tensor> t = file.tensors();
        String me = "replica" + grid.dpRank() + ".";
        Map<String, Tensor> moments = new LinkedHashMap<>();
        List<Parameter> params = opt.parameters();
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            Tensor v = t.get(me + n);
            if (v == null) {
                missing.add(me + n);
                continue;
            }
            params.get(i).value().copyFrom(v);
            for (String suffix : new String[] {".exp_avg", ".exp_avg_sq"}) {
                Tensor m = t.get(me + n + suffix);
                if (m != null) {
                    moments.put(n + suffix, m);
                }
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException(
                    d.resolve(FILE) + ": missing " + missing.size() + " tensors, e.g. " + missing.get(0));
        }
        long innerSteps = Long.parseLong(TensorIo.load(d.resolve(Checkpoint.OPTIMIZER))
                .metadata()
                .getOrDefault("optimizer_step", String.valueOf(trainerState.get("step"))));
        opt.loadState(moments, innerSteps);
        if (mp != null) {
            mp.copyMastersToModel();
        }
        boolean averagePending = Boolean.TRUE.equals(st.get("average_pending"));
        co2.restore(new Co2.Snapshot(
                ((Number) st.get("step_in_round")).intValue(),
                ((Number) st.get("round")).longValue(),
                Boolean.TRUE.equals(st.get("outer_pending")),
                flat(t, "outer."),
                flat(t, "outer_previous."),
                flat(t, "outer_momentum."),
                averagePending ? flat(t, "outer_average.") : null));
    }

    /** The named tensors {@code prefix + NAME}, concatenated in the optimizer's order. */
    private Tensor flat(Map<String, Tensor> t, String prefix) {
        List<Tensor> parts = new ArrayList<>();
        for (String n : names) {
            Tensor x = t.get(prefix + n);
            if (x == null) {
                throw new IllegalArgumentException(FILE + ": missing " + prefix + n);
            }
            parts.add(x.reshape(-1));
        }
        return fulgur.ops.Views.concat(0, parts.toArray(Tensor[]::new));
    }

    @Override
    public Map<String, Object> describe() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("update", "co2");
        d.put(
                "co2",
                Map.of(
                        "tau",
                        config.tau(),
                        "outer_lr",
                        config.outerLr(),
                        "outer_momentum",
                        config.momentum(),
                        "clip",
                        config.clip(),
                        "penalty",
                        config.penalty(),
                        "staleness",
                        config.staleness()));
        return d;
    }

    @Override
    public void close() {
        co2.close();
        if (sequenceSync != null) {
            sequenceSync.close();
        }
        opt.release();
        if (mp != null) {
            mp.close();
        }
    }
}
