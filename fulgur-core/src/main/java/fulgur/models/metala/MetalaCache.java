package fulgur.models.metala;

import fulgur.autograd.GradMode;
import fulgur.models.BatchState;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of a MetaLA model, per layer: the GLA state [B, H, dk/H, d/H] and the short convolution's
 * last (kernel − 1) inputs [B, kernel − 1, d], and the position reached. Fixed size, in its own scope — or, bound to a
 * {@link BatchState}, rows of a state pool written in place (state then tail per layer; no tail for kernel 1).
 */
public final class MetalaCache implements fulgur.models.DecodeCache {
    /** Inputs of at most this many tokens continue through the recurrent form; longer ones are chunked. */
    static final int RECURRENT_MAX_TOKENS = 4;

    private final Scope scope = Scope.detached("metala-cache");
    final List<Layer> layers = new ArrayList<>();

    MetalaCache(int numLayers) {
        for (int i = 0; i < numLayers; i++) {
            layers.add(new Layer(scope, null, null, true));
        }
    }

    MetalaCache(int numLayers, boolean convTail, BatchState batch) {
        int per = convTail ? 2 : 1;
        batch.checkStates("metala-cache", per * numLayers);
        for (int i = 0; i < numLayers; i++) {
            layers.add(
                    new Layer(scope, batch.state(per * i), convTail ? batch.state(per * i + 1) : null, batch.fresh()));
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
            for (Tensor t : new Tensor[] {l.state, l.convTail}) {
                if (t != null) {
                    out.add(t);
                }
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

    /** One layer's recurrent state, convolution tail and position. */
    static final class Layer {
        private final Scope scope;
        private final Tensor stateView;
        private final Tensor tailView;
        Tensor state;
        Tensor convTail;
        long position;

        Layer(Scope scope, Tensor stateView, Tensor tailView, boolean fresh) {
            this.scope = scope;
            this.stateView = stateView;
            this.tailView = tailView;
            if (!fresh) {
                state = stateView;
                convTail = tailView;
            }
        }

        /**
         * Takes contiguous detached copies of the new state and tail into the cache's scope, freeing the old ones, or
         * copies them into the pool rows the cache is bound to.
         */
        void replace(Tensor nextState, Tensor nextTail) {
            if (stateView != null) {
                try (var g = GradMode.noGrad()) {
                    stateView.copyFrom(nextState.detach());
                    if (tailView != null) {
                        tailView.copyFrom(nextTail.detach());
                    }
                }
                state = stateView;
                convTail = tailView;
                return;
            }
            Tensor s = scope.run(() -> nextState.detach().copy().detach());
            Tensor c = nextTail == null
                    ? null
                    : scope.run(() -> nextTail.detach().copy().detach());
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
