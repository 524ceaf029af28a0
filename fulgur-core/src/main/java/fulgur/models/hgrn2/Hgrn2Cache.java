package fulgur.models.hgrn2;

import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of an HGRN2 model: one [B, H, expand, expand] GLA state per layer (f32, f64 for an f64
 * model) and the position reached. Fixed size, in its own scope.
 */
public final class Hgrn2Cache implements fulgur.models.DecodeCache {
    /** Inputs of at most this many tokens continue through the recurrent form; longer ones are chunked. */
    static final int RECURRENT_MAX_TOKENS = 4;

    private final Scope scope = Scope.detached("hgrn2-cache");
    final List<Layer> layers = new ArrayList<>();

    Hgrn2Cache(int numLayers) {
        for (int i = 0; i < numLayers; i++) {
            layers.add(new Layer(scope));
        }
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
    static final class Layer {
        private final Scope scope;
        Tensor state;
        long position;

        Layer(Scope scope) {
            this.scope = scope;
        }

        /** Takes a contiguous detached copy of the new state into the cache's scope, freeing the old one. */
        void replaceState(Tensor next) {
            Tensor copy = scope.run(() -> next.detach().copy().detach());
            if (state != null) {
                state.close();
            }
            state = copy;
        }
    }
}
