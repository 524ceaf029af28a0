package fulgur.models.hgrn2;

import fulgur.models.BatchState;
import fulgur.models.RecurrentStateCache;

/** The decoding state of a HGRN2 model: one [B, H, expand, expand] GLA state per layer (f32, f64 for an f64 model) and the position reached. */
public final class Hgrn2Cache extends RecurrentStateCache {
    Hgrn2Cache(int numLayers) {
        super("hgrn2-cache", numLayers);
    }

    Hgrn2Cache(int numLayers, BatchState batch) {
        super("hgrn2-cache", numLayers, batch);
    }
}
