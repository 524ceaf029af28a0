package fulgur.models.tnl;

import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of a TNL model: one f32 [B, H, dk, dv] lightning state per layer and the position reached.
 * Its size is fixed: it does not grow with the number of tokens generated. It lives in its own scope.
 */
public final class TnlCache implements fulgur.models.DecodeCache {
    /** Inputs of at most this many tokens continue through the recurrent kernel; longer ones are chunked. */
    static final int RECURRENT_MAX_TOKENS = 4;

    private final Scope scope = Scope.detached("tnl-cache");
    final List<Layer> layers = new ArrayList<>();

    TnlCache(int numLayers) {
        for (int i = 0; i < numLayers; i++) {
            layers.add(new Layer(scope));
        }
    }

    /** State bytes held (all layers). */
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
