package fulgur.models.hgrn2;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Activations;
import fulgur.ops.Views;
import fulgur.ops.gla.Gla;
import fulgur.ops.gla.LogDecay;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * HGRN2's token mixer (fla's HGRN2Attention): q = SiLU(q_proj x), forget gate f = β + (1−β)σ(f_proj x) in log
 * space, input i = i_proj x; per head GLA with k = 1 − f, v = i, log-decay log f; RMSNorm (g_norm) and o_proj.
 *
 * <p>The output norm's epsilon is {@link #G_NORM_EPS}, not the config's norm_eps: fla builds g_norm with norm_eps but
 * applies it through its fused {@code rms_norm_linear(o, g_norm.weight, g_norm.bias, o_proj.weight, o_proj.bias)},
 * called without an eps, so that op's default 1e-5 is what every fla-hub checkpoint was trained with. The attention
 * output's mean square is small (~1e-4 at initialisation), so the difference shows in the logits.
 */
final class Hgrn2Attention extends Module {
    /** The carried part: the GLA state [B, H, expand, expand]. */
    static final String GLA_STATE = "gla";
    /** The epsilon fla's fused rms_norm_linear applies to HGRN2's output norm (its default; the layer passes none). */
    static final double G_NORM_EPS = 1e-5;

    private final Linear q;
    private final Linear f;
    private final Linear i;
    private final RMSNorm gNorm;
    private final Linear o;
    private final int heads;
    private final int expand;
    private final double scale;

    Hgrn2Attention(Hgrn2Config c, Rng rng) {
        int d = c.hiddenSize();
        heads = c.heads();
        expand = c.expandRatio();
        scale = c.scale();
        q = child("q_proj", Hgrn2Model.linear(d, d, rng, c.initializerRange()));
        f = child("f_proj", Hgrn2Model.linear(d, d, rng, c.initializerRange()));
        i = child("i_proj", Hgrn2Model.linear(d, d, rng, c.initializerRange()));
        gNorm = child("g_norm", new RMSNorm(d, G_NORM_EPS, c.elementwiseAffine()));
        o = child("o_proj", Hgrn2Model.linear(d, d, rng, c.initializerRange()));
    }

    Tensor forward(Tensor x, Tensor lowerBound, fulgur.models.RecurrentStateCache.Layer cache) {
        return forward(x, lowerBound, cache, null, 0);
    }

    /**
     * x [B, T, D] → [B, T, D]. {@code lowerBound} is this layer's β [D] (null for layer 0 or without lower bounds).
     * With a cache, continues from its state and leaves the new one there; with a carry (a chunk of a longer
     * sequence), from the carried state, leaving the new one in the carry.
     */
    Tensor forward(
            Tensor x,
            Tensor lowerBound,
            fulgur.models.RecurrentStateCache.Layer cache,
            fulgur.models.StateCarry carry,
            int layer) {
        int b = x.size(0);
        int t = x.size(1);
        Tensor qq = Activations.silu(q.forward(x));
        // g = log(β + (1−β)σ(f)) (f32, as fla keeps it), k = 1 − e^g: one pass where the device fuses it
        Tensor[] gk = LogDecay.gate(f.forward(x), lowerBound, 1.0);
        Tensor g = gk[0];
        Tensor k = gk[1];
        Tensor v = i.forward(x);
        int[] hs = {b, t, heads, expand};
        Tensor qh = Views.reshape(qq, hs),
                kh = Views.reshape(k, hs),
                gh = Views.reshape(g, hs),
                vh = Views.reshape(v, hs);
        Tensor out;
        if (cache == null && carry != null) {
            Gla.Result r = Gla.chunked(qh, kh, vh, gh, scale, carry.initial(layer, GLA_STATE), true, Gla.DEFAULT_CHUNK);
            out = r.output();
            carry.carry(layer, GLA_STATE, r.finalState());
        } else if (cache == null) {
            out = Gla.attention(qh, kh, vh, gh, scale);
        } else {
            Gla.Result r = cache.recurrent(t)
                    ? Gla.recurrent(qh, kh, vh, gh, scale, cache.state())
                    : Gla.chunked(qh, kh, vh, gh, scale, cache.state(), true, Gla.DEFAULT_CHUNK);
            out = r.output();
            cache.replaceState(r.finalState(), t);
        }
        return o.forward(gNorm.forward(Views.reshape(out, b, t, heads * expand)));
    }
}
