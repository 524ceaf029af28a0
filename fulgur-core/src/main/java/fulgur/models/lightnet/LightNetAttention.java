package fulgur.models.lightnet;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.RMSNorm;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.GatedNormKernels;
import fulgur.ops.Views;
import fulgur.ops.lightnet.LightNet;
import fulgur.tensor.Tensor;

/**
 * fla's LightNetAttention: q = SiLU(q_proj x), k = k_proj x (raw: it only enters through the running softmax of
 * {@link LightNet}), v = v_proj x; heads of key dim expand_ratio and value dim hidden/heads; then
 * o_proj(RMSNorm(o) ⊙ swish(g)) with the low-rank gate g = g_proj.1(g_proj.0(x)). fla fuses the last step as
 * rms_norm_swish_gate_linear, whose gate activation is swish (g·σ(g)); xmixers' original uses σ(g) — we follow fla,
 * whose checkpoints we load. The norm spans the whole width, not each head. {@code global} switches to the
 * non-causal single scan over all positions (the image model).
 *
 * <p>{@code scale} multiplies q·S (fla's kernels apply 1/√(key head dim) when called without a scale, as its layer
 * does); {@code gNormEps} is the output norm's epsilon (fla's fused rms_norm_swish_gate_linear is called without one,
 * so its default 1e-6 applies whatever norm_eps says).
 */
final class LightNetAttention extends Module {
    /** The carried parts: the normalised state S [B, H, dk, dv] and the running log-normaliser z [B, H, dk]. */
    static final String STATE = "s";

    static final String LOG_NORMALISER = "z";
    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final ModuleList<Linear> gProj;
    private final RMSNorm gNorm;
    private final Linear oProj;
    private final int heads;
    private final int keyHeadDim;
    private final int valueHeadDim;
    private final boolean global;
    private final double scale;

    LightNetAttention(
            int hidden,
            int heads,
            int keyHeadDim,
            int gateRank,
            boolean affine,
            double gNormEps,
            double scale,
            boolean global,
            LightNetInit init) {
        this.heads = heads;
        this.scale = scale;
        this.keyHeadDim = keyHeadDim;
        this.valueHeadDim = hidden / heads;
        this.global = global;
        int keyDim = heads * keyHeadDim;
        qProj = child("q_proj", init.linear(hidden, keyDim));
        kProj = child("k_proj", init.linear(hidden, keyDim));
        vProj = child("v_proj", init.linear(hidden, hidden));
        gProj = child("g_proj", new ModuleList<>());
        gProj.add(init.linear(hidden, gateRank));
        gProj.add(init.linear(gateRank, hidden));
        gNorm = child("g_norm", new RMSNorm(hidden, gNormEps, affine));
        oProj = child("o_proj", init.linear(hidden, hidden));
    }

    int heads() {
        return heads;
    }

    int keyHeadDim() {
        return keyHeadDim;
    }

    int valueHeadDim() {
        return valueHeadDim;
    }

    /** x [B, T, D] → [B, T, D] over a whole sequence, or with a cache from its state (see the carrying form). */
    Tensor forward(Tensor x, LightNetCache.Layer cache) {
        return forward(x, cache, null, 0);
    }

    /**
     * x [B, T, D] → [B, T, D]; with a cache, continues from its state and leaves the new one there; with a carry (a chunk
     * of a longer sequence), from the carried (S, z), leaving the new pair in the carry.
     */
    Tensor forward(Tensor x, LightNetCache.Layer cache, fulgur.models.StateCarry carry, int layer) {
        int b = x.size(0), t = x.size(1);
        Tensor q = Activations.silu(qProj.forward(x));
        q = Views.reshape(scale == 1 ? q : Elementwise.mulScalar(q, scale), b, t, heads, keyHeadDim);
        Tensor k = Views.reshape(kProj.forward(x), b, t, heads, keyHeadDim);
        Tensor v = Views.reshape(vProj.forward(x), b, t, heads, valueHeadDim);
        Tensor o;
        if (global) {
            if (cache != null) {
                throw new IllegalArgumentException(
                        "LightNetAttention: the non-causal (global) form has no decoding cache");
            }
            o = LightNet.global(q, k, v);
        } else if (cache == null && carry != null) {
            Tensor s0 = carry.initial(layer, STATE);
            Tensor z0 = carry.initial(layer, LOG_NORMALISER);
            LightNet.Result r = LightNet.apply(q, k, v, s0 == null ? null : new LightNet.State(s0, z0), true);
            o = r.output();
            carry.carry(layer, STATE, r.finalState().s());
            carry.carry(layer, LOG_NORMALISER, r.finalState().z());
        } else if (cache == null) {
            o = LightNet.attention(q, k, v);
        } else {
            LightNet.Result r = LightNet.apply(q, k, v, cache.state, true);
            o = r.output();
            cache.replaceState(r.finalState(), t);
        }
        Tensor g = gProj.get(1).forward(gProj.get(0).forward(x));
        return oProj.forward(
                gNorm.forwardGated(Views.reshape(o, b, t, heads * valueHeadDim), g, GatedNormKernels.Gate.SILU));
    }
}
