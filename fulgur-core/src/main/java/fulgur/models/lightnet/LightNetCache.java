package fulgur.models.lightnet;

import fulgur.autograd.GradMode;
import fulgur.models.BatchState;
import fulgur.ops.lightnet.LightNet;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of a LightNet model: per layer the normalised state S [B, H, dk, dv] and the running
 * log-normaliser z [B, H, dk] (fla's recurrent_state and ffn_state), and the position reached. Fixed size — or, bound
 * to a {@link BatchState}, rows of a state pool written in place (S then z per layer).
 */
public final class LightNetCache implements fulgur.models.DecodeCache {
    private final Scope scope = Scope.detached("lightnet-cache");
    final List<Layer> layers = new ArrayList<>();

    LightNetCache(int numLayers) {
        for (int i = 0; i < numLayers; i++) {
            layers.add(new Layer(scope, null, true));
        }
    }

    LightNetCache(int numLayers, BatchState batch) {
        batch.checkStates("lightnet-cache", 2 * numLayers);
        for (int i = 0; i < numLayers; i++) {
            layers.add(new Layer(scope, new LightNet.State(batch.state(2 * i), batch.state(2 * i + 1)), batch.fresh()));
        }
    }

    @Override
    public long stateBytes() {
        long n = 0;
        for (Tensor t : stateTensors()) {
            n += t.numel() * t.dtype().byteSize();
        }
        return n;
    }

    @Override
    public List<Tensor> stateTensors() {
        List<Tensor> out = new ArrayList<>();
        for (Layer l : layers) {
            if (l.state != null) {
                out.add(l.state.s());
                out.add(l.state.z());
            }
        }
        return out;
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
        private final LightNet.State view;
        LightNet.State state;
        long position;

        Layer(Scope scope, LightNet.State view, boolean fresh) {
            this.scope = scope;
            this.view = view;
            this.state = fresh ? null : view;
        }

        /** Keeps detached contiguous copies of the new state in the cache's scope (freeing the old one), or in the pool rows. */
        void replaceState(LightNet.State next, int tokens) {
            position += tokens;
            if (view != null) {
                try (var g = GradMode.noGrad()) {
                    view.s().copyFrom(next.s().detach());
                    view.z().copyFrom(next.z().detach());
                }
                state = view;
                return;
            }
            LightNet.State copy = scope.run(() -> new LightNet.State(
                    next.s().detach().copy().detach(), next.z().detach().copy().detach()));
            if (state != null) {
                state.s().close();
                state.z().close();
            }
            state = copy;
        }
    }
}
