package fulgur.models;

import fulgur.autograd.GradMode;
import fulgur.ops.attention.KvCache;
import fulgur.ops.attention.KvLayer;
import fulgur.ops.lightning.Lightning;
import fulgur.ops.lightning.LightningChunked;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of a model whose layers mix token mixers: keys and values for each softmax-attention layer
 * (grow with the tokens seen) and a fixed-size {@link LinearState} for each linear-attention layer, all in one
 * scope of their own, plus the position reached. Llama (all KV), Linear-Llama (all states) and MiniMax (both) use it.
 * Bound to a {@link BatchState}, the linear states are rows of a state pool written in place (in layer order) and the
 * keys and values the rows' paged blocks, each row at its own position.
 */
public final class HybridCache implements DecodeCache {
    private final Scope scope = Scope.detached("hybrid-cache");
    private final Object[] layers;
    private final BatchState batch;
    private long position;

    /**
     * One entry per layer: softmax[l] true for a KV cache, false for a linear state.
     *
     * @param softmax per layer, whether it is a softmax-attention layer
     */
    public HybridCache(boolean[] softmax) {
        layers = new Object[softmax.length];
        batch = null;
        for (int l = 0; l < softmax.length; l++) {
            layers[l] = softmax[l] ? new KvCache(scope) : new LinearState(scope, null, true);
        }
    }

    /**
     * The same layers over rows of a state pool and their paged keys and values.
     *
     * @param softmax per layer, whether it is a softmax-attention layer
     * @param batch the rows, whose states are the linear layers' in layer order
     * @throws IllegalArgumentException when the model has softmax layers and the batch has no paged keys and values
     */
    public HybridCache(boolean[] softmax, BatchState batch) {
        int linear = 0;
        for (boolean s : softmax) {
            linear += s ? 0 : 1;
        }
        batch.checkStates("hybrid-cache", linear);
        if (linear < softmax.length && batch.kv() == null) {
            throw new IllegalArgumentException(
                    "hybrid-cache: the model has softmax layers but the batch has no paged keys and values");
        }
        this.batch = batch;
        layers = new Object[softmax.length];
        int i = 0;
        for (int l = 0; l < softmax.length; l++) {
            layers[l] = softmax[l] ? batch.kv().layer(l) : new LinearState(scope, batch.state(i++), batch.fresh());
        }
    }

    /** {@return the number of layers} */
    public int numLayers() {
        return layers.length;
    }

    /**
     * The keys and values of softmax layer {@code layer}.
     *
     * @param layer the layer index
     * @return its KV cache
     * @throws IllegalArgumentException when the layer holds a linear state
     */
    public KvLayer kv(int layer) {
        if (!(layers[layer] instanceof KvLayer kv)) {
            throw new IllegalArgumentException("HybridCache: layer " + layer + " holds a linear state, not a KV cache");
        }
        return kv;
    }

    /**
     * The recurrent state of linear-attention layer {@code layer}.
     *
     * @param layer the layer index
     * @return its state
     * @throws IllegalArgumentException when the layer holds a KV cache
     */
    public LinearState linear(int layer) {
        if (!(layers[layer] instanceof LinearState s)) {
            throw new IllegalArgumentException("HybridCache: layer " + layer + " holds a KV cache, not a linear state");
        }
        return s;
    }

    /** Tokens consumed so far; the model advances it once per forward, after every layer has run. */
    @Override
    public long position() {
        if (batch == null) {
            return position;
        }
        if (batch.batch() != 1) {
            throw new IllegalStateException("the cache holds " + batch.batch() + " rows, each at its own position");
        }
        return batch.positions()[0] + position;
    }

    /**
     * Each row's position (one row for an unbound cache).
     *
     * @return the positions, one per row
     */
    public long[] positions() {
        if (batch == null) {
            return new long[] {position};
        }
        long[] p = batch.positions();
        for (int i = 0; i < p.length; i++) {
            p[i] += position;
        }
        return p;
    }

    /**
     * Counts {@code tokens} consumed by every row, once per forward after all layers ran.
     *
     * @param tokens the tokens each row consumed
     */
    public void advance(int tokens) {
        position += tokens;
        if (batch != null && batch.kv() != null) {
            batch.kv().advance(tokens);
        }
    }

    @Override
    public long stateBytes() {
        long n = 0;
        for (Object o : layers) {
            n += o instanceof KvCache kv ? kv.bytes() : o instanceof LinearState s ? s.bytes() : 0;
        }
        return n;
    }

    @Override
    public List<Tensor> stateTensors() {
        List<Tensor> out = new ArrayList<>();
        for (Object o : layers) {
            if (o instanceof LinearState s && s.state != null) {
                out.add(s.state);
            }
        }
        return out;
    }

    @Override
    public long kvBytesPerToken() {
        long n = 0;
        for (Object o : layers) {
            if (o instanceof KvCache kv && kv.keys() != null) {
                n += (kv.keys().numel() + kv.values().numel())
                        / kv.keys().size(0)
                        / kv.keys().size(1)
                        * kv.keys().dtype().byteSize();
            }
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
        private final Tensor view;
        private Tensor state;

        LinearState(Scope scope, Tensor view, boolean fresh) {
            this.scope = scope;
            this.view = view;
            this.state = fresh ? null : view;
        }

        /** {@return the state [B, H, D, D], or null before the first token} */
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
         *
         * @param q queries [B, T, H, D]
         * @param k keys [B, T, H, D]
         * @param v values [B, T, H, D]
         * @param slopes the decay rate of each head [H] (λ = e^−slope)
         * @param scale the factor on q·k
         * @return the outputs [B, T, H, D]
         */
        public Tensor attend(Tensor q, Tensor k, Tensor v, double[] slopes, double scale) {
            if (state != null && q.size(1) <= RECURRENT_MAX_TOKENS) {
                return Lightning.recurrent(q, k, v, slopes, scale, state);
            }
            Lightning.Result r =
                    Lightning.chunked(q, k, v, slopes, scale, state, true, LightningChunked.DEFAULT_BLOCK, null);
            Tensor next = r.finalState();
            if (view != null) {
                try (var g = GradMode.noGrad()) {
                    view.copyFrom(next.detach());
                }
                state = view;
                return r.output();
            }
            Tensor copy = scope.run(() -> next.detach().copy().detach());
            if (state != null) {
                state.close();
            }
            state = copy;
            return r.output();
        }
    }
}
