package fulgur.dist.ep;

import fulgur.dist.ParallelGrid;
import fulgur.dist.ProcessGroup;
import fulgur.layers.MoeExpert;
import fulgur.layers.MoeFeedForward;
import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The MoE layers of a model on the ranks of a distributed run. The data-parallel ranks of the grid are cut into
 * expert-parallel groups of {@code ep} consecutive replicas; in each, every MoE layer's experts are split evenly
 * ({@link ShardedExperts}) and a rank drops the weights of the experts it does not hold. The ranks holding the same
 * experts (one per expert-parallel group, at every sequence rank) form the expert-data group over which those
 * experts' gradients are summed; every other parameter is replicated on all ranks as before. With {@code ep} 1 the
 * experts stay replicated ({@link ReplicatedExperts}). Either way the load-balancing loss counts the whole batch.
 */
public final class ExpertParallel {
    private final int ep;
    private final ProcessGroup group;
    private final ProcessGroup expertData;
    private final boolean leaderGroup;
    private final LossShare share = new LossShare();
    private final Map<String, MoeFeedForward> layers = new LinkedHashMap<>();
    private final Map<String, ShardedExperts> placements = new LinkedHashMap<>();
    private final Map<String, Parameter> local = new LinkedHashMap<>();
    private final Set<Parameter> experts = Collections.newSetFromMap(new IdentityHashMap<>());

    private ExpertParallel(int ep, ProcessGroup group, ProcessGroup expertData, boolean leaderGroup) {
        this.ep = ep;
        this.group = group;
        this.expertData = expertData;
        this.leaderGroup = leaderGroup;
    }

    /** The MoE layers of {@code model} by name (empty when it has none). */
    public static Map<String, MoeFeedForward> moeLayers(Module model) {
        Map<String, MoeFeedForward> out = new LinkedHashMap<>();
        model.namedModules().forEach((n, m) -> {
            if (m instanceof MoeFeedForward moe) {
                out.put(n, moe);
            }
        });
        return out;
    }

    /**
     * Checks that {@code ep} ranks can split the experts of every MoE layer of {@code model} and divide the
     * data-parallel size; one clear line otherwise. Not collective.
     */
    public static void check(Module model, int ep, int dataParallel) {
        if (ep < 1) {
            throw new IllegalArgumentException("--ep must be >= 1, got " + ep);
        }
        if (ep == 1) {
            return;
        }
        Map<String, MoeFeedForward> moe = moeLayers(model);
        if (moe.isEmpty()) {
            throw new IllegalArgumentException("--ep " + ep + ": the model has no mixture-of-experts layers to split");
        }
        for (MoeFeedForward m : moe.values()) {
            int e = m.routing().experts();
            if (e % ep != 0) {
                throw new IllegalArgumentException(
                        "--ep " + ep + ": " + e + " experts per layer do not split evenly over " + ep
                                + " ranks (choose an --ep that divides " + e + ")");
            }
        }
        if (dataParallel % ep != 0) {
            throw new IllegalArgumentException(
                    "--ep " + ep + " does not divide the " + dataParallel + " data-parallel ranks");
        }
    }

    /**
     * Collective over the grid's world: makes the expert-parallel and expert-data groups, sets every MoE layer's
     * placement and, with {@code ep} > 1, drops the weights of the experts held elsewhere (load checkpoints before).
     * The load-balancing loss counts the tokens of the whole world, or with {@code perReplica} those of the rank's
     * data replica (its sequence-parallel group: when each replica trains its own copy, as with CO2).
     */
    public static ExpertParallel install(Module model, ParallelGrid grid, int ep, boolean perReplica) {
        check(model, ep, grid.dp());
        int d = grid.dpRank();
        ProcessGroup epGroup = grid.dataParallel().split(d / ep, d);
        ProcessGroup expertData = grid.world().split(d % ep, grid.world().rank());
        ExpertParallel x = new ExpertParallel(ep, epGroup, expertData, d / ep == 0 && grid.spRank() == 0);
        ProcessGroup tokens = perReplica ? grid.sequenceParallel() : grid.world();
        moeLayers(model).forEach((name, moe) -> {
            x.layers.put(name, moe);
            for (MoeExpert e : moe.experts()) {
                x.experts.addAll(e.parameters());
            }
            if (ep == 1) {
                moe.placement(new ReplicatedExperts(tokens, x.share));
                return;
            }
            ShardedExperts placement =
                    new ShardedExperts(epGroup, tokens, x.share, moe.routing().experts());
            x.placements.put(name, placement);
            moe.placement(placement);
            for (int i = 0; i < moe.routing().experts(); i++) {
                boolean mine = i >= placement.firstExpert() && i < placement.firstExpert() + placement.localExperts();
                for (Map.Entry<String, Parameter> p :
                        moe.experts().get(i).namedParameters().entrySet()) {
                    if (mine) {
                        x.local.put(name + ".experts." + i + "." + p.getKey(), p.getValue());
                    } else {
                        Tensor v = p.getValue().value();
                        p.getValue().replace(Scope.root().run(() -> Tensor.zeros(v.dtype(), v.device(), 0)));
                    }
                }
            }
        });
        return x;
    }

    public int size() {
        return ep;
    }

    /** Whether the experts are split (ep > 1). */
    public boolean isSharded() {
        return ep > 1;
    }

    public ProcessGroup group() {
        return group;
    }

    /** The ranks that hold the same experts as this one. */
    public ProcessGroup expertDataGroup() {
        return expertData;
    }

    /** What the trainer sets before each micro-batch's forward: the share of the batch's loss this rank carries. */
    public LossShare lossShare() {
        return share;
    }

    /** Whether {@code p} is an expert's weight (held here or not). */
    public boolean isExpert(Parameter p) {
        return experts.contains(p);
    }

    /** The parameters of the experts this rank holds, by name (all experts' when they are not split). */
    public Map<String, Parameter> localExperts(Map<String, Parameter> all) {
        if (!isSharded()) {
            Map<String, Parameter> out = new LinkedHashMap<>();
            all.forEach((n, p) -> {
                if (isExpert(p)) {
                    out.put(n, p);
                }
            });
            return out;
        }
        return Collections.unmodifiableMap(local);
    }

    /**
     * Whether the parameter named {@code name} lives here: a replicated parameter, or an expert this rank holds.
     */
    public boolean holds(String name, Parameter p) {
        return !isExpert(p) || !isSharded() || local.containsKey(name);
    }

    /**
     * Point-to-point over the expert-parallel group of world rank 0 (the other groups return at once): the tensors of
     * the experts its rank 0 does not hold, named {@code EXPERT_PARAM + suffix} for each suffix (e.g. "" for values,
     * ".exp_avg"), sent by their holders ({@code lookup} by name; null: absent) and received as f32 by rank 0. The
     * result is empty except on that rank 0.
     */
    public Map<String, Tensor> gatherRemote(Function<String, Tensor> lookup, List<String> suffixes) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        if (!isSharded() || !leaderGroup) {
            return out;
        }
        for (Map.Entry<String, ShardedExperts> l : placements.entrySet()) {
            MoeFeedForward moe = layers.get(l.getKey());
            int per = l.getValue().localExperts();
            for (int i = per; i < moe.routing().experts(); i++) {
                int owner = i / per;
                if (group.rank() != 0 && group.rank() != owner) {
                    continue;
                }
                for (String w : List.of("w1", "w2", "w3")) {
                    int[] shape = shapeOf(moe, w);
                    for (String suffix : suffixes) {
                        String name = l.getKey() + ".experts." + i + "." + w + ".weight" + suffix;
                        try (Scope s = Scope.open("gather experts")) {
                            if (group.rank() == owner) {
                                Tensor t = lookup.apply(name);
                                group.send(Tensor.ofInts(new int[] {t == null ? 0 : 1}, 1), 0)
                                        .await();
                                if (t != null) {
                                    group.send(t.to(DType.F32).contiguous(), 0).await();
                                }
                            } else {
                                Tensor flag = Tensor.zeros(DType.I32, 1);
                                group.recv(flag, owner).await();
                                if (flag.toIntArray()[0] == 1) {
                                    Tensor t = Tensor.empty(DType.F32, shape);
                                    group.recv(t, owner).await();
                                    out.put(name, s.keep(t));
                                }
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    private static int[] shapeOf(MoeFeedForward moe, String w) {
        return w.equals("w2") ? new int[] {moe.dim(), moe.hidden()} : new int[] {moe.hidden(), moe.dim()};
    }

    /** Names of every expert weight of the model (held here or not). */
    public List<String> expertNames() {
        List<String> out = new ArrayList<>();
        layers.forEach((name, moe) -> {
            for (int i = 0; i < moe.routing().experts(); i++) {
                for (String w : List.of("w1", "w2", "w3")) {
                    out.add(name + ".experts." + i + "." + w + ".weight");
                }
            }
        });
        return out;
    }
}
