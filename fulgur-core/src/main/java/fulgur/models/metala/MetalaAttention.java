package fulgur.models.metala;

import fulgur.layers.ShortConv;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Norms;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.ops.gla.Gla;
import fulgur.ops.gla.LogDecay;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * MetaLA's token mixer as the official {@code QVMetaLA_self_aug}:
 * <pre>
 *   x̃ = SiLU(ShortConv(x));  q = q_proj x̃;  log α = log σ(k_gate x̃)/16;  k = 1 − α;  v = v_proj x̃
 *   o = GLA(q, k, v, log α) · 1/√(dk/H)  +  σ((q · (w_aug ⊙ k)) v)        (self-augmentation, w_aug = aug_balance)
 *   y = out_proj( SiLU(g_proj x̃) ⊙ LayerNorm_per_head(o) )
 * </pre>
 * The GLA scale 1/√(dk/H) is what the official code gets from fla's fused_chunk_gla default; the self-augmentation
 * term is the code's (σ of the scalar times v, elementwise), not the paper's σ(scalar) ⊙ v: checkpoints were
 * trained with it, and with w_aug = 0 it adds a constant 1/2 that the per-head norm removes.
 */
final class MetalaAttention extends Module {
    /** The carried parts: the GLA state [B, H, dk/H, d/H] and the short convolution's last K − 1 inputs [B, K − 1, d]. */
    static final String GLA_STATE = "gla";

    static final String CONV_TAIL = "conv";
    /** τ of α = σ(·)^{1/τ}. */
    static final double DECAY_NORMALIZER = 16;
    /** The per-head LayerNorm's epsilon (no affine), as the official code. */
    static final double GROUP_NORM_EPS = 1e-5;

    private final Linear qProj;
    private final Linear kGate;
    private final Linear vProj;
    private final Linear gProj;
    private final Linear outProj;
    private final Parameter augBalance;
    private final ShortConv conv1d;
    private final int heads;
    private final int keyDim;
    private final int headDim;

    MetalaAttention(MetalaConfig c, Rng rng) {
        int d = c.embedDim();
        int dk = c.keyDim();
        double std = c.initStd();
        heads = c.heads();
        keyDim = dk / heads;
        headDim = d / heads;
        qProj = child("q_proj", MetalaModel.linear(d, dk, false, rng, std));
        kGate = child("k_gate", MetalaModel.linear(d, dk, false, rng, std));
        vProj = child("v_proj", MetalaModel.linear(d, d, false, rng, std));
        gProj = child("g_proj", MetalaModel.linear(d, d, true, rng, std));
        outProj = child("out_proj", MetalaModel.linear(d, d, false, rng, std));
        augBalance = param("aug_balance", Tensor.zeros(dk), false);
        conv1d = child("conv1d", new ShortConv(d, c.dConv(), rng));
    }

    Tensor forward(Tensor x, MetalaCache.Layer cache) {
        return forward(x, cache, null, 0);
    }

    /**
     * x [B, T, d] → [B, T, d]; with a cache, continues from its state and conv tail and leaves the new ones there; with
     * a carry (a chunk of a longer sequence), from the carried ones, leaving the new ones in the carry.
     */
    Tensor forward(Tensor x, MetalaCache.Layer cache, fulgur.models.StateCarry carry, int layer) {
        int b = x.size(0);
        int t = x.size(1);
        boolean carried = cache == null && carry != null;
        ShortConv.Out conv =
                conv1d.forward(x, cache != null ? cache.convTail : carried ? carry.initial(layer, CONV_TAIL) : null);
        if (carried && conv.tail() != null) {
            carry.carry(layer, CONV_TAIL, conv.tail());
        }
        Tensor xs = Activations.silu(conv.y());
        Tensor q = Views.reshape(qProj.forward(xs), b, t, heads, keyDim);
        // log α = log σ(·)/τ (f32), k = 1 − α: one pass where the device fuses it
        Tensor[] gk = LogDecay.gate(kGate.forward(xs), null, DECAY_NORMALIZER);
        Tensor logAlpha = Views.reshape(gk[0], b, t, heads, keyDim);
        Tensor k = Views.reshape(gk[1], b, t, heads, keyDim);
        Tensor v = Views.reshape(vProj.forward(xs), b, t, heads, headDim);
        Tensor g = gProj.forward(xs);
        double scale = 1 / Math.sqrt(keyDim);
        Tensor o;
        if (carried) {
            Gla.Result r =
                    Gla.chunked(q, k, v, logAlpha, scale, carry.initial(layer, GLA_STATE), true, Gla.DEFAULT_CHUNK);
            o = r.output();
            carry.carry(layer, GLA_STATE, r.finalState());
        } else if (cache == null) {
            o = Gla.attention(q, k, v, logAlpha, scale);
        } else {
            Gla.Result r = cache.state != null && t <= MetalaCache.RECURRENT_MAX_TOKENS
                    ? Gla.recurrent(q, k, v, logAlpha, scale, cache.state)
                    : Gla.chunked(q, k, v, logAlpha, scale, cache.state, true, Gla.DEFAULT_CHUNK);
            o = r.output();
            cache.replace(r.finalState(), conv.tail());
            cache.position += t;
        }
        // Self-augmentation: σ((q·(w_aug ⊙ k)) v) added to the output only (the state is untouched), as
        // σ(z) − 1/2 = tanh(z/2)/2: the per-head norm removes the constant 1/2 exactly, and added in a 16-bit dtype
        // it would swamp o (|o| ≪ 1/2: k = 1 − α is small), whose low bits the norm then scales up.
        Tensor aug = Views.reshape(augBalance.value(), heads, keyDim);
        Tensor w = Reductions.sum(Elementwise.mul(q, Elementwise.mul(k, aug)), new int[] {3}, true); // [B,T,H,1]
        o = Elementwise.add(
                o, Elementwise.mulScalar(Activations.tanh(Elementwise.mulScalar(Elementwise.mul(w, v), 0.5)), 0.5));
        o = Views.reshape(Norms.layerNorm(o, null, null, GROUP_NORM_EPS), b, t, heads * headDim);
        return outProj.forward(Elementwise.mul(Activations.silu(g), o));
    }
}
