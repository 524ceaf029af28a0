package fulgur.models;

import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of a model whose every layer carries one recurrent state tensor (TNL's lightning state,
 * HGRN2's GLA state): the state per layer (null before the first token) and the position reached. Fixed size, held
 * in a scope of its own so it outlives the calls that advance it.
 */
public class RecurrentStateCache implements DecodeCache {
    /** Inputs of at most this many tokens continue through the recurrent form; longer ones go through the chunked one. */
    public static final int RECURRENT_MAX_TOKENS = 4;

    private final Scope scope;
    private final List<Layer> layers = new ArrayList<>();

    protected RecurrentStateCache(String name, int numLayers) {
        scope = Scope.detached(name);
        for (int i = 0; i < numLayers; i++) {
            layers.add(new Layer(scope));
        }
    }

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
        return layers.isEmpty() ? 0 : layers.get(0).position;
    }

    @Override
    public void close() {
        scope.close();
    }

    /** One layer's state and position. */
    public static final class Layer {
        private final Scope scope;
        private Tensor state;
        private long position;

        Layer(Scope scope) {
            this.scope = scope;
        }

        /** The state, or null before the first token. */
        public Tensor state() {
            return state;
        }

        public long position() {
            return position;
        }

        /** Whether {@code tokens} more tokens should go through the recurrent form (a state exists and the input is short). */
        public boolean recurrent(int tokens) {
            return state != null && tokens <= RECURRENT_MAX_TOKENS;
        }

        /** Counts {@code tokens} consumed (the recurrent form advanced the state in place). */
        public void advance(int tokens) {
            position += tokens;
        }

        /** Takes a contiguous detached copy of the new state into the cache's scope, frees the old one, counts the tokens. */
        public void replaceState(Tensor next, int tokens) {
            Tensor copy = scope.run(() -> next.detach().copy().detach());
            if (state != null) {
                state.close();
            }
            state = copy;
            position += tokens;
        }
    }
}
