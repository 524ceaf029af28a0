package fulgur.models;

import fulgur.ops.attention.KvCache;
import fulgur.ops.lightning.Lightning;
import fulgur.ops.lightning.LightningChunked;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;

/**
 * The decoding state of a model whose layers mix token mixers: a {@link KvCache} for each softmax-attention layer
 * (grows with the tokens seen) and a fixed-size {@link LinearState} for each linear-attention layer, all in one
 * scope of their own, plus the position reached. Llama (all KV), Linear-Llama (all states) and MiniMax (both) use it.
 */
public final class HybridCache implements DecodeCache {
    private final Scope scope = Scope.detached("hybrid-cache");
    private final Object[] layers;
    private long position;

    /** One entry per layer: softmax[l] true for a KV cache, false for a linear state. */
    public HybridCache(boolean[] softmax) {
        layers = new Object[softmax.length];
        for (int l = 0; l < softmax.length; l++) {
            layers[l] = softmax[l] ? new KvCache(scope) : new LinearState(scope);
        }
    }

    public int numLayers() {
        return layers.length;
    }

    public KvCache kv(int layer) {
        if (!(layers[layer] instanceof KvCache kv)) {
            throw new IllegalArgumentException("HybridCache: layer " + layer + " holds a linear state, not a KV cache");
        }
        return kv;
    }

    public LinearState linear(int layer) {
        if (!(layers[layer] instanceof LinearState s)) {
            throw new IllegalArgumentException("HybridCache: layer " + layer + " holds a KV cache, not a linear state");
        }
        return s;
    }

    /** Tokens consumed so far; the model advances it once per forward, after every layer has run. */
    @Override
    public long position() {
        return position;
    }

    public void advance(int tokens) {
        position += tokens;
    }

    @Override
    public long stateBytes() {
        long n = 0;
        for (Object o : layers) {
            n += o instanceof KvCache kv ? kv.bytes() : ((LinearState) o).bytes();
        }
        return n;
    }

    @Override
    public void close() {
        scope.close();
    }

    /** One linear-attention layer's recurrent state [B, H, dk, dv] (f32, or f64 for f64 models). */
    public static final class LinearState {
        /** Inputs of at most this many tokens continue through the recurrent kernel; longer ones are chunked. */
        static final int RECURRENT_MAX_TOKENS = 4;

        private final Scope scope;
        private Tensor state;

        LinearState(Scope scope) {
            this.scope = scope;
        }

        public Tensor state() {
            return state;
        }

        long bytes() {
            return state == null ? 0 : state.numel() * state.dtype().byteSize();
        }

        /**
         * Lightning attention of q, k, v [B, T, H, D] continuing from this state, which it advances: o_t = scale·
         * Σ_{s≤t} λ^{t−s}(q_t·k_s)v_s over every token seen. Short inputs take the recurrent kernel, long ones the
         * chunked op started from the state.
         */
        public Tensor attend(Tensor q, Tensor k, Tensor v, double[] slopes, double scale) {
            if (state != null && q.size(1) <= RECURRENT_MAX_TOKENS) {
                return Lightning.recurrent(q, k, v, slopes, scale, state);
            }
            Lightning.Result r = Lightning.chunked(q, k, v, slopes, scale, state, true, LightningChunked.DEFAULT_BLOCK, null);
            Tensor next = r.finalState();
            Tensor copy = scope.run(() -> next.detach().copy().detach());
            if (state != null) {
                state.close();
            }
            state = copy;
            return r.output();
        }
    }
}
