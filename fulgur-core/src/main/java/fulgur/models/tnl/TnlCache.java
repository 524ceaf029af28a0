package fulgur.models.tnl;

import fulgur.models.BatchState;
import fulgur.models.RecurrentStateCache;

/** The decoding state of a TransNormerLLM model: one [B, H, d, e] lightning state per layer (f32, f64 for an f64 model) and the position reached. */
public final class TnlCache extends RecurrentStateCache {
    TnlCache(int numLayers) {
        super("tnl-cache", numLayers);
    }

    TnlCache(int numLayers, BatchState batch) {
        super("tnl-cache", numLayers, batch);
    }
}
