package fulgur.models.lightnet;

import fulgur.ops.lightnet.LightNet;
import fulgur.tensor.Scope;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of a LightNet model: per layer the normalised state S [B, H, dk, dv] and the running
 * log-normaliser z [B, H, dk] (fla's recurrent_state and ffn_state), and the position reached. Fixed size.
 */
public final class LightNetCache implements fulgur.models.DecodeCache {
    private final Scope scope = Scope.detached("lightnet-cache");
    final List<Layer> layers = new ArrayList<>();

    LightNetCache(int numLayers) {
        for (int i = 0; i < numLayers; i++) {
            layers.add(new Layer(scope));
        }
    }

    @Override
    public long stateBytes() {
        long n = 0;
        for (Layer l : layers) {
            if (l.state != null) {
                n += l.state.s().numel() * l.state.s().dtype().byteSize() + l.state.z().numel() * l.state.z().dtype().byteSize();
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

    /** One layer's state (null before the first token) and position. */
    static final class Layer {
        private final Scope scope;
        LightNet.State state;
        long position;

        Layer(Scope scope) {
            this.scope = scope;
        }

        /** Keeps detached contiguous copies of the new state in the cache's scope, freeing the old one. */
        void replaceState(LightNet.State next, int tokens) {
            LightNet.State copy = scope.run(() -> new LightNet.State(next.s().detach().copy().detach(), next.z().detach().copy().detach()));
            if (state != null) {
                state.s().close();
                state.z().close();
            }
            state = copy;
            position += tokens;
        }
    }
}
