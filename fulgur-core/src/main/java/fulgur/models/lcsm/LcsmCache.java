package fulgur.models.lcsm;

import fulgur.autograd.GradMode;
import fulgur.models.BatchState;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of an LCSM model: one memory m [B, k, d] per layer and the position reached. Its size does not
 * grow with the number of tokens. It lives in its own scope — or, bound to a {@link BatchState}, in rows of a state
 * pool written in place.
 */
public final class LcsmCache implements fulgur.models.DecodeCache {
    private final Scope scope = Scope.detached("lcsm-cache");
    final List<Tensor> states = new ArrayList<>();
    private final List<Tensor> views;
    long position;

    LcsmCache(int layers) {
        for (int i = 0; i < layers; i++) {
            states.add(null);
        }
        views = null;
    }

    LcsmCache(int layers, BatchState batch) {
        batch.checkStates("lcsm-cache", layers);
        views = new ArrayList<>();
        for (int i = 0; i < layers; i++) {
            views.add(batch.state(i));
            states.add(batch.fresh() ? null : batch.state(i));
        }
    }

    /** Keeps a detached contiguous copy of layer l's new memory (freeing the old one), or copies it into the pool rows. */
    void replace(int layer, Tensor next) {
        if (views != null) {
            try (var g = GradMode.noGrad()) {
                views.get(layer).copyFrom(next.detach());
            }
            states.set(layer, views.get(layer));
            return;
        }
        Tensor copy = scope.run(() -> next.detach().copy().detach());
        Tensor old = states.set(layer, copy);
        if (old != null) {
            old.close();
        }
    }

    @Override
    public long position() {
        return position;
    }

    @Override
    public long stateBytes() {
        long n = 0;
        for (Tensor t : states) {
            if (t != null) {
                n += t.numel() * t.dtype().byteSize();
            }
        }
        return n;
    }

    @Override
    public List<Tensor> stateTensors() {
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : states) {
            if (t != null) {
                out.add(t);
            }
        }
        return out;
    }

    @Override
    public void close() {
        scope.close();
    }
}
