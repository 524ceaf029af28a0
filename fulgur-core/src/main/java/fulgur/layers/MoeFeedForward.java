package fulgur.layers;

import fulgur.backend.Capturing;
import fulgur.backend.Kernels;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Indexing;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.ops.moe.Moe;
import fulgur.ops.moe.MoeKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;

/**
 * Sparse mixture-of-experts feed-forward (MiniMax-01 / Mixtral {@code block_sparse_moe}):
 * h = Σ_{i ∈ TopK(x W_g)} g_i · FFN_i(x), with children {@code gate} (Linear d→E, no bias) and {@code experts}.
 *
 * <p>Gating: {@link Gating#SOFTMAX} takes p = softmax(x W_g) over all E experts; with {@code normalizeTopK} the
 * k picked weights are renormalised, which equals a softmax over the top-k logits (MiniMax-01's formula, and
 * transformers' Mixtral/MiniMax code); without it they stay the full-softmax probabilities (Qwen-MoE style).
 * {@link Gating#SIGMOID} uses σ(x W_g) per expert, optionally renormalised over the top k. The top k are picked on the
 * logits (both maps are monotone, so the choice is the same).
 *
 * <p>Dispatch is drop-less: the (token, slot) pairs are grouped by expert, each expert runs on exactly its rows, and
 * the weighted outputs are summed back per token; no capacity, no padding. A device with whole-layer
 * {@link MoeKernels} (CUDA) does all of it with the per-expert counts on the device (no host reads, so a step can be
 * captured as a graph); otherwise the grouping is a counting sort on the host ({@link Moe#dispatch}, three
 * {@link Moe#groupedLinear} maps), as transformers' code sizes each expert's slice with {@code torch.where}.
 *
 * <p>Load balancing (transformers' {@code load_balancing_loss_func}, Switch Transformer eq. 4–6):
 * L_aux = α · E · Σ_i f_i · P_i with f_i = (number of tokens that picked expert i among their k) / N and
 * P_i = mean over tokens of softmax(x W_g)_i (the full softmax, also under sigmoid gating). Uniform routing gives
 * α·k. The MiniMax-01 paper writes α·(1/E)·Σ f_i m_i; we follow the released code's normalisation. transformers
 * concatenates all layers' logits before computing f and P; here each layer reports its own loss (sum or average
 * them in the model).
 *
 * <p>Where the experts run is a {@link Placement}: here, every expert on this device (the default), or spread over the
 * ranks of a distributed run (expert parallelism, in fulgur-dist), which also decides the token fractions f_i of the
 * load-balancing loss (the whole batch's, under data parallelism).
 */
public final class MoeFeedForward extends Module {

    public enum Gating {
        SOFTMAX,
        SIGMOID
    }

    /** Routing settings; MiniMax-01: 32 experts, top-2, softmax, renormalised, α = 0.01. */
    public record Routing(int experts, int topK, Gating gating, boolean normalizeTopK, double auxLossCoef) {
        public Routing {
            List<String> problems = new ArrayList<>();
            if (experts < 1) {
                problems.add("experts must be ≥ 1, got " + experts);
            }
            if (topK < 1 || topK > experts) {
                problems.add("topK must be in [1, experts=" + experts + "], got " + topK);
            }
            if (gating == null) {
                problems.add("gating must be set");
            }
            if (!(auxLossCoef >= 0) || Double.isInfinite(auxLossCoef)) {
                problems.add("auxLossCoef must be finite and ≥ 0, got " + auxLossCoef);
            }
            if (!problems.isEmpty()) {
                throw new IllegalArgumentException("MoeFeedForward.Routing: " + String.join("; ", problems));
            }
        }

        public static Routing minimax() {
            return new Routing(32, 2, Gating.SOFTMAX, true, 0.01);
        }
    }

    /**
     * Where the experts of a layer run, and over which tokens the load-balancing loss counts. Implementations must keep
     * gradients flowing to {@code x}, {@code weights} and the experts they run.
     */
    public interface Placement {
        /**
         * The layer's output [N, D]: for each token the sum over its k slots of the slot's gate weight times the chosen
         * expert's output. {@code dispatch} groups the N·k (token, slot) pairs by expert; {@code weights} [N, k].
         */
        Tensor experts(MoeFeedForward layer, Tensor x, Moe.Dispatch dispatch, Tensor weights);

        /**
         * The weights f_i the load-balancing loss gives each expert's mean routing probability over this call's
         * tokens, from this call's per-expert counts of (token, slot) pairs over {@code tokens} tokens.
         */
        double[] loadFractions(MoeFeedForward layer, int[] counts, int tokens);
    }

    private final int dim;
    private final int hidden;
    private final Routing routing;
    private Placement placement;
    private final Linear gate;
    private final ModuleList<MoeExpert> experts;
    private Tensor lastAuxLoss;
    private int[] lastCounts;
    private Tensor lastDeviceCounts;
    private Tensor lastLogits;

    /** Weights from torch's default Linear init. */
    public MoeFeedForward(int dim, int hidden, Routing routing, Rng rng, DType dtype) {
        this(dim, hidden, routing, (in, out) -> new Linear(in, out, false, rng, dtype));
    }

    /** Weights from {@code linear(in, out)} (no bias), called for gate, then each expert's w1, w2, w3. */
    public MoeFeedForward(int dim, int hidden, Routing routing, BiFunction<Integer, Integer, Linear> linear) {
        if (dim < 1 || hidden < 1) {
            throw new IllegalArgumentException(
                    "MoeFeedForward: dim and hidden must be ≥ 1, got dim=" + dim + ", hidden=" + hidden);
        }
        this.dim = dim;
        this.hidden = hidden;
        this.routing = routing;
        this.gate = child("gate", linear.apply(dim, routing.experts()));
        this.experts = child("experts", new ModuleList<>());
        for (int e = 0; e < routing.experts(); e++) {
            experts.add(new MoeExpert(linear.apply(dim, hidden), linear.apply(hidden, dim), linear.apply(dim, hidden)));
        }
        if (gate.bias() != null) {
            throw new IllegalArgumentException("MoeFeedForward: the gate has no bias in the reference layout");
        }
    }

    /** Parameters: D·E (gate) + E·3·D·F (experts). */
    public static long parameterCount(int dim, int hidden, int experts) {
        return (long) dim * experts + 3L * experts * dim * hidden;
    }

    /**
     * x [..., D] → [..., D]; records the auxiliary loss and per-expert token counts of this call. Runs the device's
     * whole-layer {@link MoeKernels} where they take the arguments (no host reads); otherwise groups the tokens on the
     * host ({@link Moe#dispatch}), or, while a step is being captured as a graph (no host reads allowed), runs every
     * expert on every token and weights the outputs by the gates (zero for the experts a token did not pick): the same
     * layer at E/k times the products.
     */
    public Tensor forward(Tensor x) {
        return forward(x, (Tensor) null);
    }

    /**
     * {@link #forward(Tensor)} routed by {@code routerLogits} [N, E] (N the tokens of x, in order) in place of the
     * gate's x W_g: logits the caller made another way (another precision, a shared router); their gradient is
     * the caller's. Null routes by the gate.
     */
    public Tensor forward(Tensor x, Tensor routerLogits) {
        return forward(x, routerLogits, null, 0);
    }

    /**
     * {@link #forward(Tensor)} for one call of several over a longer sequence: while {@code totals} counts, this call's
     * routing is added to it as layer {@code layerIndex}'s; once fixed, the auxiliary loss is this call's share of the
     * whole sequence's ({@link RoutingTotals}). Null totals: the call is the whole sequence.
     */
    public Tensor forward(Tensor x, RoutingTotals totals, int layerIndex) {
        return forward(x, null, totals, layerIndex);
    }

    private Tensor forward(Tensor x, Tensor routerLogits, RoutingTotals totals, int layerIndex) {
        x.checkAlive("MoeFeedForward");
        if (x.ndim() < 1 || x.size(x.ndim() - 1) != dim || !x.dtype().isFloating()) {
            throw new IllegalArgumentException(
                    "MoeFeedForward: x must be a floating tensor [..., " + dim + "], got " + x.describe());
        }
        int[] shape = x.shape();
        int n = (int) (x.numel() / dim);
        int e = routing.experts();
        int k = routing.topK();
        if (routerLogits != null) {
            routerLogits.checkAlive("MoeFeedForward");
            if (routerLogits.ndim() != 2
                    || routerLogits.size(0) != n
                    || routerLogits.size(1) != e
                    || !routerLogits.dtype().isFloating()) {
                throw new IllegalArgumentException("MoeFeedForward: router logits must be a floating tensor [" + n
                        + ", " + e + "] (tokens, experts), got " + routerLogits.describe());
            }
        }
        if (n == 0) {
            lastCounts = new int[e];
            lastDeviceCounts = null;
            if (totals != null && !totals.isFixed()) {
                totals.count(layerIndex, lastCounts, 0);
            }
            lastAuxLoss = Tensor.zeros(x.dtype(), x.device());
            return Tensor.zeros(x.dtype(), x.device(), shape);
        }
        Tensor flat = x.reshape(n, dim);
        Tensor logits = routerLogits != null ? routerLogits : gate.forward(flat); // [N, E]
        Tensor softmax = Activations.softmax(logits, -1);
        Tensor out;
        Tensor fraction; // [E]: pairs routed to each expert / N
        DType countType =
                softmax.dtype() == DType.F64 ? DType.F64 : DType.F32; // counts exact (a 16-bit dtype would round them)
        MoeKernels kernels = int8Experts() ? null : Kernels.find(MoeKernels.class, x.device());
        MoeKernels.Routing how = new MoeKernels.Routing(k, routing.gating() == Gating.SIGMOID, routing.normalizeTopK());
        if (placement == null
                && kernels != null
                && kernels.supports(
                        flat, logits, experts.get(0).w1().weight().value().dtype(), hidden, how)) {
            Moe.Layer layer = Moe.layer(
                    kernels, flat, logits, stacked(MoeExpert::w1), stacked(MoeExpert::w3), stacked(MoeExpert::w2), how);
            out = layer.out();
            fraction =
                    Elementwise.mulScalar(layer.counts().to(countType), 1.0 / n).to(softmax.dtype());
            lastCounts = null;
            lastDeviceCounts = layer.counts();
        } else {
            Tensor scores = routing.gating() == Gating.SOFTMAX ? softmax : Activations.sigmoid(logits);
            Tensor top = Indexing.topkIndices(logits, k); // [N, k]
            Tensor weights = Indexing.gather(scores, 1, top);
            if (routing.normalizeTopK()) {
                weights = Elementwise.div(weights, Reductions.sum(weights, new int[] {1}, true));
            }
            if (placement == null && Capturing.active()) {
                out = dense(flat, top, weights);
                Tensor ones = Tensor.full(countType, x.device(), 1.0, n * k);
                Tensor counts =
                        Indexing.scatterAdd(Tensor.zeros(countType, x.device(), e), 0, Views.reshape(top, n * k), ones);
                fraction = Elementwise.mulScalar(counts, 1.0 / n).to(softmax.dtype());
                lastCounts = null;
                lastDeviceCounts = counts;
            } else {
                Moe.Dispatch dispatch = Moe.dispatch(top, e);
                int[] counts = dispatch.counts();
                out = placement != null
                        ? placement.experts(this, flat, dispatch, weights)
                        : localExperts(flat, dispatch, weights);
                double[] f;
                if (placement != null) {
                    f = placement.loadFractions(this, counts, n);
                } else {
                    f = new double[e];
                    for (int i = 0; i < e; i++) {
                        f[i] = (double) counts[i] / n;
                    }
                }
                fraction = Tensor.of(softmax.dtype(), f, e).to(x.device());
                lastCounts = counts;
                lastDeviceCounts = null;
            }
        }
        double share = 1;
        if (totals != null) {
            if (totals.isFixed()) { // the whole sequence's fractions; this call adds its share of the whole loss
                fraction = Tensor.of(softmax.dtype(), totals.fractions(layerIndex), e)
                        .to(x.device());
                share = (double) n / totals.tokens(layerIndex);
            } else {
                totals.count(layerIndex, tokensPerExpert(), n);
            }
        }
        Tensor meanProb = Reductions.mean(softmax, new int[] {0}, false); // [E]
        lastAuxLoss = Elementwise.mulScalar(
                Reductions.sum(Elementwise.mul(fraction, meanProb)), routing.auxLossCoef() * e * share);
        lastLogits = logits;
        return Views.reshape(out, shape);
    }

    /**
     * Every expert on every token, weighted by the gates: out = Σ_e G[:, e] ⊙ FFN_e(x) with G [N, E] the gate weights
     * scattered to the picked experts (zero elsewhere). No host reads.
     */
    private Tensor dense(Tensor flat, Tensor top, Tensor weights) {
        int n = flat.size(0);
        Tensor g = Indexing.scatterAdd(
                Tensor.zeros(weights.dtype(), flat.device(), n, routing.experts()), 1, top, weights);
        Tensor out = null;
        for (int i = 0; i < routing.experts(); i++) {
            Tensor y = Elementwise.mul(experts.get(i).forward(flat), Views.narrow(g, 1, i, 1));
            out = out == null ? y : Elementwise.add(out, y);
        }
        return out;
    }

    /** The experts' weights of one map stacked [E, out, in] (in the graph: gradients reach each expert's weight). */
    private Tensor stacked(java.util.function.Function<MoeExpert, Linear> map) {
        Tensor[] w = new Tensor[routing.experts()];
        for (int i = 0; i < w.length; i++) {
            w[i] = map.apply(experts.get(i)).weight().value();
        }
        return Views.stack(0, w);
    }

    private boolean int8Experts() {
        return experts.get(0).w1().weight().value().dtype() == DType.I8;
    }

    /**
     * What {@link Placement#experts} computes, with every expert on this device: each runs on exactly its rows, the
     * weighted outputs are index-added back.
     */
    public Tensor localExperts(Tensor flat, Moe.Dispatch dispatch, Tensor weights) {
        int n = flat.size(0);
        int k = routing.topK();
        int[] counts = dispatch.counts();
        Tensor rows = Indexing.indexSelect(flat, 0, dispatch.tokens()); // [N·k, D], grouped by expert
        Tensor hidden =
                Activations.siluMul(expertMaps(rows, counts, MoeExpert::w1), expertMaps(rows, counts, MoeExpert::w3));
        Tensor ys = expertMaps(hidden, counts, MoeExpert::w2);
        Tensor g = Views.reshape(Indexing.indexSelect(Views.reshape(weights, n * k), 0, dispatch.pairs()), n * k, 1);
        return Indexing.indexAdd(
                Tensor.zeros(ys.dtype(), flat.device(), n, dim), 0, dispatch.tokens(), Elementwise.mul(ys, g));
    }

    /** Runs the experts where {@code placement} says (null: every expert here, the default). */
    public MoeFeedForward placement(Placement placement) {
        this.placement = placement;
        return this;
    }

    public Placement placement() {
        return placement;
    }

    /** The auxiliary load-balancing loss of the last forward (a scalar in the graph; null before any forward). */
    public Tensor auxLoss() {
        return lastAuxLoss;
    }

    /** The router logits [N, E] of the last forward (in the graph), for a model-level loss over all layers. */
    public Tensor routerLogits() {
        return lastLogits;
    }

    /**
     * transformers' model-level {@code load_balancing_loss_func} times α: the logits of all MoE layers are
     * concatenated (as [Σ N, E]) before f and P are computed, so it is not the sum of the per-layer losses. With one
     * layer it equals that layer's {@link #auxLoss()}.
     */
    public static Tensor loadBalancingLoss(java.util.List<Tensor> routerLogits, int topK, double coef) {
        if (routerLogits.isEmpty()) {
            throw new IllegalArgumentException("loadBalancingLoss: no router logits");
        }
        Tensor all =
                routerLogits.size() == 1 ? routerLogits.get(0) : Views.concat(0, routerLogits.toArray(Tensor[]::new));
        if (all.ndim() != 2 || topK < 1 || topK > all.size(1)) {
            throw new IllegalArgumentException("loadBalancingLoss: expected logits [N, E] with 1 ≤ topK ≤ E, got "
                    + all.describe() + " and topK " + topK);
        }
        int n = all.size(0);
        int e = all.size(1);
        long[] picked = Indexing.topkIndices(all, topK).toLongArray();
        double[] f = new double[e];
        for (long p : picked) {
            f[(int) p] += 1.0 / n;
        }
        Tensor meanProb = Reductions.mean(Activations.softmax(all, -1), new int[] {0}, false);
        Tensor fraction = Tensor.of(meanProb.dtype(), f, e).to(all.device());
        return Elementwise.mulScalar(Reductions.sum(Elementwise.mul(fraction, meanProb)), coef * e);
    }

    /**
     * How many tokens each expert received in the last forward (null before any forward); read from the device, while
     * the forward's scope is open, when the counts were made there.
     */
    public int[] tokensPerExpert() {
        if (lastCounts == null && lastDeviceCounts != null) {
            long[] c = lastDeviceCounts.toLongArray();
            lastCounts = new int[c.length];
            for (int i = 0; i < c.length; i++) {
                lastCounts[i] = (int) c[i];
            }
        }
        return lastCounts == null ? null : lastCounts.clone();
    }

    public Routing routing() {
        return routing;
    }

    /**
     * One linear map per expert over its rows ({@code counts[i]} consecutive rows each): {@link Moe#groupedLinear}, or
     * each expert's own {@link Linear} when the experts hold weight-only int8 weights (served models).
     */
    private Tensor expertMaps(Tensor rows, int[] counts, java.util.function.Function<MoeExpert, Linear> map) {
        int e = counts.length;
        if (int8Experts()) {
            java.util.List<Tensor> outs = new java.util.ArrayList<>();
            int at = 0;
            for (int i = 0; i < e; i++) {
                if (counts[i] > 0) {
                    outs.add(map.apply(experts.get(i)).forward(Views.narrow(rows, 0, at, counts[i])));
                }
                at += counts[i];
            }
            return outs.size() == 1 ? outs.get(0) : Views.concat(0, outs.toArray(Tensor[]::new));
        }
        Tensor[] w = new Tensor[e];
        for (int i = 0; i < e; i++) {
            w[i] = map.apply(experts.get(i)).weight().value();
        }
        return Moe.groupedLinear(rows, counts, w);
    }

    public Linear gate() {
        return gate;
    }

    public ModuleList<MoeExpert> experts() {
        return experts;
    }

    public int dim() {
        return dim;
    }

    public int hidden() {
        return hidden;
    }
}
