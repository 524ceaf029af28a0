package fulgur.models.lcsm;

import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoding state of an LCSM model: one memory m [B, k, d] per layer and the position reached. Its size does not
 * grow with the number of tokens. It lives in its own scope.
 */
public final class LcsmCache implements fulgur.models.DecodeCache {
    private final Scope scope = Scope.detached("lcsm-cache");
    final List<Tensor> states = new ArrayList<>();
    long position;

    LcsmCache(int layers) {
        for (int i = 0; i < layers; i++) {
            states.add(null);
        }
    }

    /** Keeps a detached contiguous copy of layer l's new memory, freeing the old one. */
    void replace(int layer, Tensor next) {
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
    public void close() {
        scope.close();
    }
}
