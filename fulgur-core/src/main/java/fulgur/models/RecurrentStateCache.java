package fulgur.models;

import fulgur.autograd.GradMode;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of a model whose every layer carries one recurrent state tensor (TNL's lightning state,
 * HGRN2's GLA state): the state per layer (null before the first token) and the position reached. Fixed size, held
 * in a scope of its own so it outlives the calls that advance it — or, bound to a {@link BatchState}, rows of a state
 * pool written in place, each row at its own position.
 */
public class RecurrentStateCache implements DecodeCache {
    /** Inputs of at most this many tokens continue through the recurrent form; longer ones go through the chunked one. */
    public static final int RECURRENT_MAX_TOKENS = 4;

    private final Scope scope;
    private final List<Layer> layers = new ArrayList<>();

    /**
     * A cache of {@code numLayers} empty states in a scope of its own.
     *
     * @param name the cache's name, for errors
     * @param numLayers the number of layers
     */
    protected RecurrentStateCache(String name, int numLayers) {
        scope = Scope.detached(name);
        for (int i = 0; i < numLayers; i++) {
            layers.add(new Layer(scope, null, null));
        }
    }

    /**
     * Layer l's state is {@code batch.state(l)}.
     *
     * @param name the cache's name, for errors
     * @param numLayers the number of layers
     * @param batch the rows, one state tensor per layer
     * @throws IllegalArgumentException when the batch binds a different number of states
     */
    protected RecurrentStateCache(String name, int numLayers, BatchState batch) {
        batch.checkStates(name, numLayers);
        scope = Scope.detached(name);
        for (int i = 0; i < numLayers; i++) {
            layers.add(new Layer(scope, batch, batch.state(i)));
        }
    }

    /**
     * {@return the state of layer {@code index}}
     *
     * @param index the layer index
     */
    public Layer layer(int index) {
        return layers.get(index);
    }

    @Override
    public long stateBytes() {
        long n = 0;
        for (Layer l : layers) {
            if (l.state != null) {
                n += l.state.numel() * l.state.dtype().byteSize();
            }
        }
        return n;
    }

    @Override
    public long position() {
        return layers.isEmpty() ? 0 : layers.get(0).position();
    }

    @Override
    public List<Tensor> stateTensors() {
        List<Tensor> out = new ArrayList<>();
        for (Layer l : layers) {
            if (l.state != null) {
                out.add(l.state);
            }
        }
        return out;
    }

    @Override
    public void close() {
        scope.close();
    }

    /** One layer's state and position. */
    public static final class Layer {
        private final Scope scope;
        private final Tensor view;
        private final long[] rowPositions;
        private Tensor state;
        private long position;

        Layer(Scope scope, BatchState batch, Tensor view) {
            this.scope = scope;
            this.view = view;
            this.rowPositions = batch == null ? null : batch.positions();
            this.state = batch == null || batch.fresh() ? null : view;
        }

        /**
         * The state, or null before the first token.
         *
         * @return the state, or null
         */
        public Tensor state() {
            return state;
        }

        /**
         * Tokens consumed (a cache bound to several rows has a position per row: {@link #positions}).
         *
         * @return the count
         * @throws IllegalStateException when the cache holds several rows
         */
        public long position() {
            if (rowPositions == null) {
                return position;
            }
            if (rowPositions.length != 1) {
                throw new IllegalStateException(
                        "the cache holds " + rowPositions.length + " rows, each at its own position");
            }
            return rowPositions[0] + position;
        }

        /**
         * Each row's position.
         *
         * @return one position per row
         */
        public long[] positions() {
            if (rowPositions == null) {
                return new long[] {position};
            }
            long[] p = rowPositions.clone();
            for (int i = 0; i < p.length; i++) {
                p[i] += position;
            }
            return p;
        }

        /**
         * Whether {@code tokens} more tokens should go through the recurrent form (a state exists and the input is
         * short).
         *
         * @param tokens the new tokens
         * @return true for the recurrent form
         */
        public boolean recurrent(int tokens) {
            return state != null && tokens <= RECURRENT_MAX_TOKENS;
        }

        /**
         * Counts {@code tokens} consumed (the recurrent form advanced the state in place).
         *
         * @param tokens the tokens consumed
         */
        public void advance(int tokens) {
            position += tokens;
        }

        /**
         * Keeps the new state: a contiguous detached copy in the cache's scope (the old one freed), or, bound to a
         * pool, copied into the pool's rows. Counts the tokens.
         *
         * @param next the state after the call
         * @param tokens the tokens consumed
         */
        public void replaceState(Tensor next, int tokens) {
            if (view != null) {
                try (var g = GradMode.noGrad()) {
                    view.copyFrom(next.detach());
                }
                state = view;
            } else {
                Tensor copy = scope.run(() -> next.detach().copy().detach());
                if (state != null) {
                    state.close();
                }
                state = copy;
            }
            position += tokens;
        }
    }
}
