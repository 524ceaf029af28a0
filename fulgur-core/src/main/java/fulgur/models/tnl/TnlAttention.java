package fulgur.models.tnl;

import fulgur.models.RecurrentStateCache;
import fulgur.models.SequenceShard;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Views;
import fulgur.ops.lightning.Lightning;
import fulgur.ops.lightning.LightningAttentionOp;
import fulgur.ops.lightning.LightningChunked;
import fulgur.ops.lightning.NormLinearAttention;
import fulgur.tensor.Tensor;

/**
 * The TNL token mixer (NormLinearAttention): one q,k,v,u projection; SiLU on q and k; optional LRPE; lightning
 * attention with this layer's decay; SRMSNorm over all heads; gate by u; output projection.
 */
final class TnlAttention extends Module {
    private final Linear qkvu;
    private final Linear out;
    private final RMSNorm norm;
    private final Lrpe lrpe;
    private final int heads;
    private final int headDim;
    private final int hidden;
    private final int layer;
    final double[] slopes;

    TnlAttention(TnlConfig c, int layer, double[] slopes, TnlInit init) {
        this.heads = c.heads();
        this.headDim = c.headDim();
        this.hidden = c.hiddenDim();
        this.slopes = slopes;
        this.layer = layer;
        this.out = child("out_proj", init.linear(hidden, c.embedDim(), c.bias()));
        this.norm = child("norm", new RMSNorm(hidden, TnlModel.SRMS_EPS, false));
        this.lrpe = c.lrpe(layer) ? child("lrpe", new Lrpe(heads, headDim)) : null;
        this.qkvu = child("qkvu_proj", init.linear(c.embedDim(), 4 * hidden, c.bias()));
    }

    /** Key dimension of the recurrent state (doubled by LRPE). */
    int stateKeyDim() {
        return lrpe == null ? headDim : 2 * headDim;
    }

    int heads() {
        return heads;
    }

    int headDim() {
        return headDim;
    }

    /**
     * x [B, T, D] → [B, T, D]. With a cache, continues from the cached state at the cached position and leaves the
     * new state there; short inputs then take the recurrent path (no gradients), long ones the chunked one. Without a
     * cache, the tokens sit at positions {@code shard.positionOffset()} onwards and attend through
     * {@code shard.lightning(layer)} (from the state carried from earlier chunks, if any).
     */
    Tensor forward(Tensor x, RecurrentStateCache.Layer cache, SequenceShard shard) {
        int b = x.size(0);
        int t = x.size(1);
        Tensor proj = qkvu.forward(x);
        if (cache == null && lrpe == null && shard.lightning(layer) == LightningAttentionOp.LOCAL) {
            // the whole mixer in one op: on devices that fuse it, q, k, v and u are read where the projection put them
            return out.forward(NormLinearAttention.apply(proj, heads, slopes, 1.0, norm.gainValue(), norm.eps()));
        }
        Tensor[] parts = Views.chunk(proj, -1, 4);
        Tensor q = Views.reshape(Activations.silu(parts[0]), b, t, heads, headDim);
        Tensor k = Views.reshape(Activations.silu(parts[1]), b, t, heads, headDim);
        Tensor v = Views.reshape(parts[2].contiguous(), b, t, heads, headDim);
        Tensor u = parts[3];
        if (cache != null && !shard.isWhole()) {
            throw new IllegalArgumentException(
                    "TnlAttention: decoding with a cache needs the whole sequence, not a shard");
        }
        if (lrpe != null) {
            long[] offsets = cache == null ? new long[] {shard.positionOffset()} : cache.positions();
            q = lrpe.forward(q, offsets);
            k = lrpe.forward(k, offsets);
        }
        Tensor o;
        if (cache == null) {
            o = shard.lightning(layer).apply(q, k, v, slopes, 1.0);
        } else if (cache.recurrent(t)) {
            o = Lightning.recurrent(q, k, v, slopes, 1.0, cache.state());
            cache.advance(t);
        } else {
            Lightning.Result r =
                    Lightning.chunked(q, k, v, slopes, 1.0, cache.state(), true, LightningChunked.DEFAULT_BLOCK, null);
            o = r.output();
            cache.replaceState(r.finalState(), t);
        }
        Tensor normed = norm.forward(Views.reshape(o, b, t, hidden));
        return out.forward(Elementwise.mul(u, normed));
    }
}
