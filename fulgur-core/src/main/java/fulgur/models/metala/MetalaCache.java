package fulgur.models.metala;

import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of a MetaLA model, per layer: the GLA state [B, H, dk/H, d/H] and the short convolution's
 * last (kernel − 1) inputs [B, kernel − 1, d], and the position reached. Fixed size, in its own scope.
 */
public final class MetalaCache implements fulgur.models.DecodeCache {
    /** Inputs of at most this many tokens continue through the recurrent form; longer ones are chunked. */
    static final int RECURRENT_MAX_TOKENS = 4;

    private final Scope scope = Scope.detached("metala-cache");
    final List<Layer> layers = new ArrayList<>();

    MetalaCache(int numLayers) {
        for (int i = 0; i < numLayers; i++) {
            layers.add(new Layer(scope));
        }
    }

    @Override
    public long stateBytes() {
        long n = 0;
        for (Layer l : layers) {
            for (Tensor t : new Tensor[] {l.state, l.convTail}) {
                if (t != null) {
                    n += t.numel() * t.dtype().byteSize();
                }
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

    /** One layer's recurrent state, convolution tail and position. */
    static final class Layer {
        private final Scope scope;
        Tensor state;
        Tensor convTail;
        long position;

        Layer(Scope scope) {
            this.scope = scope;
        }

        /** Takes contiguous detached copies of the new state and tail into the cache's scope, freeing the old ones. */
        void replace(Tensor nextState, Tensor nextTail) {
            Tensor s = scope.run(() -> nextState.detach().copy().detach());
            Tensor c = nextTail == null ? null : scope.run(() -> nextTail.detach().copy().detach());
            if (state != null) {
                state.close();
            }
            if (convTail != null) {
                convTail.close();
            }
            state = s;
            convTail = c;
        }
    }
}
